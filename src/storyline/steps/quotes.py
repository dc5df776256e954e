"""Direct quotes and who said them, by rules and light statistics (no parser, no NER model).

A quote is the content *inside* a pair of quotation marks: ``text[start:end]`` excludes the marks
and the whitespace next to them but keeps the punctuation the writer put inside (``"We lost,"``
gives ``We lost,``). That is what PolNeAR's direct-quote spans hold once their marks are cut off,
which is how ``bench/quotes.py`` measures it. A quote that runs over several paragraphs (an
opening mark with no closing one, continued by a paragraph that opens with a mark) gives one span
per paragraph, all with the same speaker.

Attribution looks for a reporting verb ("said", "told", "according to", ...) in the same sentence,
after the quote (``"...," Okafor said``, ``"...," said Grace Okafor, the director``) or
before it (``He added: "..."``), and takes the subject next to it. Names are resolved inside the
article: a bare surname or ``Mr. Surname`` becomes the full name mentioned in the article,
``he``/``she`` becomes the most recent person named before it, and a role in apposition
(``the director of X, Grace Okafor,``) gives way to the name. A quote with no cue of its own
takes the speaker of the quote it continues (split quotes, multi-paragraph quotes).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from .. import model
from ..config import QuotesConfig
from .base import record_limits, with_reject

__all__ = ["QuoteSpan", "Quotes", "find_quotes", "full_name", "person_names"]



@dataclass(frozen=True, slots=True)
class QuoteSpan:
    """One direct quote: ``text[start:end] == quote`` (content inside the marks) and its speaker."""

    start: int
    end: int
    quote: str
    speaker: str | None
    speaker_mention: str | None
    speaker_start: int | None
    speaker_end: int | None
    cue: str | None
    confidence: float


# --- word lists -------------------------------------------------------------------------------

_VERBS_ONLY = frozenset(
    """said says say saying told tells tell telling added adds adding stated states asked asks
    wrote writes writing noted notes argued argues explained explains insisted insists claimed
    claims declared declares warned warns continued continues recalled recalls acknowledged
    acknowledges admitted admits announced announces replied replies responded responds observed
    observes remarked remarks suggested suggests tweeted tweets posted testified testifies conceded
    concedes emphasized emphasised stressed stresses cautioned predicted predicts promised vowed
    vows complained complains joked jokes quipped shouted yelled urged urges countered counters
    answered answers recounted reiterated agreed agrees boasted boasts mused concluded charged
    alleged alleges lamented laments thundered wondered wonders described describes called calls
    pleaded opined cried screamed whispered proclaimed proclaims
    acknowledge admit confirmed confirms denied denies blasted mocked demanded demands assured
    assures reported reports chanted imagined read reads texted emailed messaged retorted snapped""".split()
)
# Verbs that may come before their subject ("said Okafor"); "told Okafor" names the hearer.
_INVERTIBLE = frozenset(
    """said says added adds asked asks wrote writes noted notes explained explains continued
    recalled replied responded observed remarked argued insisted warned cautioned answered
    countered quipped joked concluded suggested declared stated tweeted""".split()
)
_VERBS = _VERBS_ONLY | _INVERTIBLE
_CUE_WORDS = _VERBS | {"according"}
_AUX = frozenset(
    """has had have would will also later then previously recently once again earlier
    further repeatedly simply just often frequently since last reportedly""".split()
)
_PRONOUNS = {"he": "m", "she": "f", "they": "p", "we": "p", "i": "s", "it": "n"}
_HONORIFICS = frozenset(
    """mr mrs ms miss dr prof sen rep gov lt col gen capt sgt adm rev sir dame lord lady
    mr. mrs. ms. dr. prof. sen. rep. gov. lt. col. gen. capt. sgt. adm. rev. st. pres.""".split()
)
_FEMALE_HON = frozenset({"mrs", "ms", "miss", "dame", "lady", "queen", "princess"})
_TITLES = frozenset(
    """president secretary minister senator governor director chairman chairwoman chair leader
    speaker general judge justice mayor ambassador spokesman spokeswoman spokesperson chief
    commissioner attorney professor king queen prince princess pope vice deputy premier chancellor
    prime ceo founder representative congressman congresswoman councilman councilwoman candidate
    nominee adviser advisor aide analyst economist officer sheriff lieutenant colonel captain
    sergeant admiral commander marshal defense defence foreign interior state treasury homeland
    former acting executive assistant associate senior top u.s. us uk un eu gop democratic
    republican democrat federal national senate house white press campaign manager rev reverend
    engineer lawyer doctor nurse teacher farmer worker resident activist historian scientist
    researcher expert reporter journalist author writer coach player host anchor pollster strategist
    alderman alderwoman councillor councilor lawmaker legislator organizer organiser volunteer owner
    intelligence pastor bishop cardinal archbishop emir sheikh ayatollah crown first lady""".split()
)
_ORG_WORDS = frozenset(
    """state states party department ministry forum center centre council committee court house
    senate congress assembly parliament university college school institute news times post
    journal press agency bureau office service services force forces army navy police union
    association organization organisation foundation fund bank group company corporation corp inc
    ltd co network channel tv radio magazine street avenue city county province republic kingdom
    sea river lake mountain mountains island islands ocean gulf bay valley desert canal
    nations islamic iraq syria iraqi syrian american americans europe european africa asia
    county district commission administration government authority board club league church
    hospital airport station project program programme campaign caucus coalition front movement
    brigade battalion command fox cnn msnbc abc nbc cbs reuters associated twitter facebook
    google times monday tuesday wednesday thursday friday saturday sunday january february march
    april june july august september october november december""".split()
)
_PLACES = frozenset(
    """new york washington london paris moscow beijing baghdad damascus mosul raqqa los angeles
    san francisco las vegas hong kong united states america kingdom iowa hampshire carolina
    virginia texas florida ohio california jersey york""".split()
)
_LEAD = frozenset(
    """but and yet still however later meanwhile then so now also instead indeed moreover
    furthermore separately asked when while as if though although because after before since in on
    at for with by from of to the a an this that these those his her their its our my your once
    speaking writing interviewed earlier""".split()
)
_DETERMINERS = frozenset(
    "the a an its his her their our one another some many several two three both this that".split()
)
_LEAD_ONLY = _LEAD - _DETERMINERS
_PARTICLES = frozenset("al al- bin ibn de del della la le van von der den da di du dos das y".split())
_ABBREV = frozenset(
    """mr mrs ms dr prof sen rep gov lt col gen capt sgt adm rev st jr sr u.s u.k u.n no vs
    inc corp co ltd jan feb mar apr jun jul aug sep sept oct nov dec etc e.g i.e pres ft mt""".split()
)

_MARKS = "\"“”„«»"
_WORD = re.compile(r"[A-Za-z][\w’'.\-]*|\d[\w,.]*")
# A capitalised token, "U.S." or "Okafor" (``(?:[A-Z]\.){1,3}|[A-Z][\w’'\-]*\.?`` with the capital
# factored out). A run of them does not start inside a word; that check comes after the first
# capital (a lookbehind over two characters) so that re can jump from capital to capital.
_CAPTOK_REST = r"(?:\.(?:[A-Z]\.){0,2}|[\w’'\-]*\.?)"
_CAPTOK = rf"(?:[A-Z]{_CAPTOK_REST})"
_PARTTOK = r"(?:al|bin|ibn|de|del|la|le|van|von|der|da|di|du)"
_NAME_RUN = re.compile(rf"[A-Z](?<![\w’'\-].){_CAPTOK_REST}(?:[ \t]+(?:{_PARTTOK}[ \t]+|al-)?{_CAPTOK})*")
# A sentence end: ``[.!?]+[\"”’»)\]]*(?=\s+[\"“‘'«(\[A-Z0-9])|\n``, written to start with one character
# class (the lookbehinds pick the branch) so that re skips ahead to the next candidate character.
_SENT_END = re.compile(r"[\n.!?](?:(?<=\n)|(?<=[.!?])[.!?]*[\"”’»)\]]*(?=\s+[\"“‘'«(\[A-Z0-9]))")
_LINE = re.compile(r"[^\n]+")
_OPEN_DOUBLE = re.compile(r"[\"“«„]")
_ALNUM_RUN = re.compile(r"\w+")
_WORD_CHARS = re.compile(r"\w")
_LETTER_WORD = re.compile(r"[^\W\d_][\w’'\-]*")
_PARENS = re.compile(r"\(([^()\n]{1,40})\)")
_POSSESSIVE = re.compile(r"[’']s?$")
_INITIALS = re.compile(r"(?:[A-Z]\.)+")
_INITIAL_END = re.compile(r"\b[A-Z]\.$|\b(?:Jr|Sr)\.$")
_APPOSITION_GAP = re.compile(r"[,—–(]")
_LAST_WORD = re.compile(r"([\w.]+)$")
_DOTTED = re.compile(r"(\w\.)+\w")
_CAPWORD = re.compile(r"([A-Z](?<!\w.)[\w’'\-]+)\b")  # \b([A-Z]...)\b, with the capital first (faster)
_HON_BEFORE = re.compile(r"\b(Mr|Mrs|Ms|Miss|Sir|Lady|Dame)\.?\s+$")
_CLAUSE_PUNCT = re.compile(r"[,:;—]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


# --- quote marks ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Seg:
    """A quoted segment while it is being attributed."""

    start: int
    end: int
    open_at: int  # offset of the opening mark
    close_at: int | None  # offset of the closing mark; None when the paragraph ends first
    para: int
    attr: tuple[str | None, str | None, int | None, int | None, str | None, float] | None = None


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each non-empty line."""
    return [m.span() for m in _LINE.finditer(text)]


def _role(text: str, i: int) -> str:
    """Whether the mark at ``i`` opens, closes or could do either."""
    ch = text[i]
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    if ch in "“„«":
        return "open"
    if ch in "”»":
        # Some sites use ” for both marks; one that follows a space and leads a word opens.
        return "open" if before.isspace() and after.isalnum() else "close"
    if before.isspace() or before in "([{—–-/:" or i == 0:
        return "open"
    if after.isspace() or after in ".,;:!?)]}—–-" or i + 1 == len(text):
        return "close"
    return "either"


def _double_segments(text: str, marks: list[int]) -> list[tuple[int, int | None]]:
    """``(open_at, close_at)`` pairs of the double marks at ``marks`` (one paragraph's, in order)."""
    out: list[tuple[int, int | None]] = []
    opened: int | None = None
    for i in marks:
        ch = text[i]
        role = _role(text, i)
        if opened is None:
            if role != "close":
                opened = i
        elif role != "open" or (text[opened] == "„" and ch == "“"):
            out.append((opened, i))
            opened = None
        elif ch in "“«":
            opened = i  # an opening mark inside a quote: the earlier one was never closed
    if opened is not None:
        out.append((opened, None))
    return out


_SINGLE_CLOSE = re.compile(r"[’']")
def _mark_offsets(text: str) -> list[int]:
    """Offsets of the double marks and of the single marks that can open (‘ and '), in order.

    ``str.find`` per mark (a memchr-like scan) costs about a third of a regex character class
    matched through the text.
    """
    out = []
    for ch in _MARKS + "‘'":
        at = text.find(ch)
        while at >= 0:
            out.append(at)
            at = text.find(ch, at + 1)
    out.sort()
    return out


def _single_segments(
    text: str, p0: int, p1: int, taken: list[tuple[int, int]], opens: list[int]
) -> list[tuple[int, int]]:
    """``(open_at, close_at)`` pairs of single marks outside double quotes, apostrophes excluded.

    ``opens`` are the paragraph's ‘ and ' marks, in order.

    An opening mark follows a space and leads a letter (not "’90s", "’em" after a word); a closing
    mark follows a non-space and is not followed by a letter (not "don’t", but "workers’ " is
    still ambiguous, so the first closing candidate wins).
    """
    out: list[tuple[int, int]] = []
    pos = p0
    for i in opens:
        if i < pos or any(a <= i <= b for a, b in taken):
            continue
        before = text[i - 1] if i > p0 else " "
        if not ((before.isspace() or before in "([—–") and text[i + 1 : i + 2].isalpha()):
            continue
        for c in _SINGLE_CLOSE.finditer(text, i + 2, p1):
            j = c.start()
            if not text[j - 1].isspace() and not text[j + 1 : j + 2].isalnum():
                out.append((i, j))
                pos = j + 1
                break
    return out


def _segments(text: str, paras: list[tuple[int, int]] | None = None) -> list[_Seg]:
    """Every quoted segment, in text order (titles and one-word scare quotes included).

    ``paras`` is ``_paragraphs(text)`` when the caller has it already.
    """
    # Only paragraphs with a mark can hold a segment: find the marks once, skip the other paragraphs.
    marks = _mark_offsets(text)
    if not marks:
        return []
    paras = _paragraphs(text) if paras is None else paras
    starts = [p0 for p0, _ in paras]
    segs: list[_Seg] = []
    k = 0
    while k < len(marks):
        # A mark is not a newline, so it lies on a line: take that line's marks together.
        para = bisect.bisect_right(starts, marks[k]) - 1
        p0, p1 = paras[para]
        here, k = k, bisect.bisect_left(marks, p1, k)
        doubles = [i for i in marks[here:k] if text[i] in _MARKS]
        # Single marks that can open (_single_segments skips the others: "don't", "’90s").
        opens = [
            i for i in marks[here:k]
            if text[i] in "‘'" and (i == p0 or text[i - 1].isspace() or text[i - 1] in "([—–")
            and text[i + 1 : i + 2].isalpha()
        ]
        pairs = _double_segments(text, doubles) if doubles else []
        if opens:
            closed = [(a, b) for a, b in pairs if b is not None]
            pairs += _single_segments(text, p0, p1, closed + [(a, p1) for a, b in pairs if b is None], opens)
        for a, b in sorted(pairs):
            s, e = a + 1, (b if b is not None else p1)
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if s < e:
                segs.append(_Seg(s, e, a, b, para))
    return segs


def _is_quote(text: str, g: _Seg, min_words: int) -> bool:
    """Enough words and not a title, URL or attribute value."""
    nth_word = next(itertools.islice(_ALNUM_RUN.finditer(text, g.start, g.end), min_words - 1, None), None)
    return nth_word is not None and _speechlike(text, g.open_at, g.start, g.end)


_SMALL = frozenset("a an and the of for to in on at by with or nor but as from vs".split())


def _speechlike(text: str, open_at: int, s: int, e: int) -> bool:
    """False for quoted titles ("Saturday Night Live"), URLs and HTML attribute values."""
    inner = text[s:e]
    if text[max(0, open_at - 1) : open_at] == "=" or "://" in inner or inner.startswith("www."):
        return False
    if inner[-1:] in ".!?,":
        return True  # ends like a sentence, not a title
    words = _LETTER_WORD.findall(inner)
    return len(words) > 12 or not all(w[0].isupper() or w.lower() in _SMALL for w in words)


def _mask(text: str, segs: list[_Seg]) -> str:
    """``text`` with quoted content blanked out, so cues and names are only found outside quotes."""
    # Party tags and asides in parentheses ("Gov. John Kasich (R-OH), said") are not subjects.
    text = _PARENS.sub(lambda m: "(" + " " * len(m.group(1)) + ")", text)
    # Segments lie inside one line (no "\n" to keep) and may overlap (a single-quoted one that runs
    # past a double-quoted one): blank their union.
    out, pos = [], 0
    for s, e in sorted((g.start, g.end) for g in segs):
        if e > pos:
            s = max(s, pos)
            out += [text[pos:s], "_" * (e - s)]
            pos = e
    out.append(text[pos:])
    return "".join(out)


# --- names ------------------------------------------------------------------------------------


def _norm(tok: str) -> str:
    return tok.lower().rstrip(".,;:")


def _strip_possessive(tok: str) -> str:
    """``_POSSESSIVE.sub("", tok)``: a trailing ’, ', ’s or 's cut off (string tests, no regex call)."""
    last = tok[-1:]
    if last == "’" or last == "'":
        return tok[:-1]
    if last == "s" and tok[-2:-1] in ("’", "'"):
        return tok[:-2]
    if last == "\n":  # ``$`` also matches before a final newline
        return _POSSESSIVE.sub("", tok)
    return tok


def _clean_name(tokens: list[str]) -> list[str]:
    """Drop leading function words, honorifics and titles; keep the name that remains."""
    return list(_clean_name_cached(tuple(tokens)))


_LEAD_OR_HONORIFIC = _LEAD | _HONORIFICS


@functools.lru_cache(maxsize=1 << 16)
def _clean_name_cached(tokens: tuple[str, ...]) -> tuple[str, ...]:
    # Most words end in a letter: only those ending in ’ ' s , ; : or a newline can change.
    toks = [t if t[-1:] not in "’'s,;:\n" else _strip_possessive(t).rstrip(",;:") for t in tokens]
    toks = [t for t in toks if t]
    norms = [t.lower().rstrip(".,;:") for t in toks]  # _norm, inlined: this runs for every new run
    first = 0
    while first < len(toks) and norms[first] in _LEAD_OR_HONORIFIC:
        first += 1
    for k in range(first, len(toks)):
        if norms[k] in _TITLES or norms[k].rstrip(".") in _HONORIFICS:
            first = k + 1  # the name starts after the last title
    toks = toks[first:]
    while toks and toks[-1].endswith(".") and len(toks[-1]) > 2 and _norm(toks[-1]) not in {"jr.", "sr."}:
        toks[-1] = toks[-1].rstrip(".")
    return tuple(toks)


_NOT_NAME = _ORG_WORDS | _PLACES | _LEAD


def _is_person_name(tokens: list[str] | tuple[str, ...]) -> bool:
    """A plausible personal name: capitalised words, no organisation or place words."""
    if not tokens or len(tokens) > 5 or (len(tokens) == 1 and "." in tokens[0]):
        return False
    for t in tokens:
        low = t.lower().rstrip(".,;:")
        if low in _NOT_NAME:
            return False
        if t.isupper() and len(t) > 1 and "." not in t:
            return False  # acronyms: ISIS, NATO
        if not (t[0].isupper() or low.rstrip("-") in _PARTICLES):
            return False
    return tokens[-1][0].isupper()


def person_names(text: str) -> list[tuple[int, int, str]]:
    """Full personal names (two or more words) in ``text`` as ``(start, end, name)``, in order.

    Example:
        >>> person_names("Defense Secretary Tom Alder spoke.")
        [(18, 27, 'Tom Alder')]
    """
    return _names_in(text, 0, len(text))


# Characters that no capitalised run holds (a run is words, spaces and tabs): _NAME_RUN's matches in the
# text between two of them are the matches of the whole text that lie there.
_RUN_BREAKS = ",;:\"“”()"  # and newlines
_RUN_PARTICLES = frozenset("al bin ibn de del la le van von der da di du".split())  # _PARTTOK's words


def _after_name_word(text: str, space: int) -> bool:
    """Whether the word before ``text[space]`` can be a word of a name that goes on after the space.

    Words of a capitalised run start with a capital (a dotted "J.R." ends with one), are
    particles ("van") or start with "al-"; a name's words are that run's words, whole. False
    rules a name out; True only means the text around is worth reading.
    """
    end = space - 1 if space > 0 and text[space - 1] == "." else space
    start = text.rfind(" ", 0, end) + 1
    if not (start > 0 and text[start:end].isalnum()):  # else a plain word after a space: it starts there
        start = end
        while start > 0 and (text[start - 1] in "’'-_" or text[start - 1].isalnum()):  # [\w’'\-]
            start -= 1
    if start == end:
        return False
    word = text[start:end]
    return "A" <= word[0] <= "Z" or word in _RUN_PARTICLES or word.startswith("al-")


def _names_in(text: str, lo: int, hi: int) -> list[tuple[int, int, str]]:
    """:func:`person_names` of ``text[lo:hi]``, with offsets in ``text``.

    With ``lo``/``hi`` at line ends (or next to any character a run cannot hold: _RUN_BREAKS) this
    is exactly the part of ``person_names(text)`` in between: no run of capitalised words crosses
    such a character, so the scan starts afresh after each.
    """
    out = []
    for m in _NAME_RUN.finditer(text, lo, hi):
        run = m.group()
        if " " not in run and "\t" not in run:
            continue  # one word, and cleaning never adds words
        for offset, first, joined in _run_names(run):
            at = text.find(first, m.start() + offset)
            if text.startswith(joined, at):
                out.append((at, at + len(joined), joined))
    return out


@functools.lru_cache(maxsize=1 << 16)
def _run_names(run: str) -> tuple[tuple[int, str, str], ...]:
    """``(offset, first word, name)`` of each piece of a capitalised run that reads as a full name.

    Only depends on the run's own text, so it is cached: runs ("White House", a minister's name) repeat.
    """
    out = []
    # A run with no full stop is one piece (most runs): no need for _split_run's generator.
    pieces = [(len(run) - len(run.lstrip()), run.split())] if "." not in run else _split_run(0, run)
    for offset, toks in pieces:
        if len(toks) >= 2:
            name = _clean_name_cached.__wrapped__(tuple(toks))  # runs are cached already: skip a second cache
            if len(name) >= 2 and _is_person_name(name):
                out.append((offset, name[0], " ".join(name)))
    return tuple(out)


def _split_run(start: int, run: str) -> Iterator[tuple[int, list[str]]]:
    """Cut a run of capitalised words where a word ends a sentence ("Okafor. Photo")."""
    words = run.split()  # the \S+ matches: re's \s and str.split both go by str.isspace
    if "." not in run:
        # Nothing to cut (most runs): one piece, from the run's first word.
        if words:
            yield start + len(run) - len(run.lstrip()), words
        return
    toks: list[str] = []
    pos = at = 0
    for w in words:
        at = run.index(w, at)  # only whitespace lies between words, so this is where w starts
        if not toks:
            pos = start + at
        toks.append(w)
        at += len(w)
        if w.endswith(".") and not (_INITIALS.fullmatch(w) or _norm(w).rstrip(".") in _ABBREV):
            yield pos, toks
            toks = []
    if toks:
        yield pos, toks


def full_name(mention: str, known_names: Iterable[str]) -> str | None:
    """The full name a mention refers to: ``"Mr. Okafor"`` -> ``"Grace Okafor"``.

    Args:
        mention: words naming a person, with or without honorific or title.
        known_names: full names in order of preference (e.g. as they appear in the story).

    Returns:
        The first known name whose last words equal the mention's, the mention itself when it
        already has two or more name words, else None.

    Example:
        >>> full_name("Okafor", ["Tom Alder", "Grace Okafor"])
        'Grace Okafor'
    """
    toks = _clean_name_cached(tuple(mention.split()))
    if not toks:
        return None
    last, n = toks[-1], len(toks)
    for name in known_names:
        if last not in name:
            continue  # cannot end with the mention's words; skips the split of most names
        parts = name.split()
        if len(parts) > n and tuple(parts[-n:]) == toks:
            return name
    return " ".join(toks) if n >= 2 else None


# --- attribution ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int
    end: int
    text: str
    kind: str  # name | pronoun | description


def _tokens(masked: str, lo: int, hi: int) -> list[tuple[int, int, str]]:
    """``(start, end, word)`` of each ``_WORD`` match in ``masked[lo:hi]``.

    From findall's words, cheaper than a match object each: a word starts with a letter or digit,
    and every letter or digit between two matches would start one, so the next occurrence of a
    word after the previous match is where it matched.
    """
    out = []
    at = lo
    for w in _WORD.findall(masked, lo, hi):
        s = masked.find(w, at)
        at = s + len(w)
        out.append((s, at, w))
    return out


def _is_verb(tok: str) -> bool:
    return tok.lower().rstrip(".,:;") in _VERBS


def _mention_of(text: str, toks: list[tuple[int, int, str]]) -> _Mention | None:
    """Read one comma-free chunk of a subject as a name, a pronoun or a description."""
    while toks and _norm(toks[-1][2]) in _AUX:
        toks = toks[:-1]
    if not toks:
        return None
    if len(toks) == 1 and _norm(toks[0][2]) in _PRONOUNS:
        return _make_mention(text, toks[0][0], toks[0][1], "pronoun")
    k = 0
    while k < len(toks) - 1 and _norm(toks[k][2]) in _LEAD_ONLY:
        k += 1
    toks = toks[k:]
    words = [t[2] for t in toks]
    # The first run of capitalised words that reads as a person's name and is not the object of
    # a preposition: "chief executive Lowell McAdam", "Scott Hawkins of Cheyenne", but not
    # "a spokesman for Bernie Sanders".
    i = 0
    while i < len(toks):
        if not _capish(words[i]):
            i += 1
            continue
        j = i
        while j < len(toks) and _capish(words[j]):
            j += 1
        whole = i == 0 and j == len(toks)
        if i == 0 or _norm(words[i - 1]) not in _PREPOSITIONS:
            found = _name_mention(text, toks[i:j], need_two=not whole)
            if found:
                return found
        i = j
    if any(_norm(w) in _RELATIVE for w in words):
        return None  # "a passion that almost (suggested)": a clause, not a speaker
    if (_norm(words[0]) in _DETERMINERS or words[0][0].isupper()) and len(words) <= 10:
        s, e = toks[0][0], toks[-1][1]
        return _make_mention(text, s, e, "description")
    return None


_RELATIVE = frozenset("that which who whom whose when where if because while".split())
_PREPOSITIONS = frozenset("for of with to at by from on in about against behind like than".split())


def _capish(word: str) -> bool:
    return word[0].isupper() or _norm(word) in _PARTICLES


def _name_mention(text: str, toks: list[tuple[int, int, str]], need_two: bool) -> _Mention | None:
    """A name mention over ``toks`` (capitalised words), keeping an honorific before it."""
    words = [t[2] for t in toks]
    name = _clean_name(words)
    if not name or not _is_person_name(name) or (need_two and len(name) < 2):
        return None
    first = len(words) - len(name)
    s, e = toks[max(first - _honorific_lead(words, first), 0)][0], toks[-1][1]
    return _make_mention(text, s, e, "name")


def _make_mention(text: str, s: int, e: int, kind: str) -> _Mention:
    """A mention whose offsets hold exactly its words: trailing punctuation and "’s" cut off."""
    words = text[s:e].rstrip(".,;:")
    if kind == "name" and len(words) > 2 and not _INITIAL_END.search(text[s:e]):
        words = _strip_possessive(words)
    elif kind == "name":
        words = text[s:e].rstrip(",;:")
    return _Mention(s, s + len(words), words, kind)


def _honorific_lead(words: list[str], first: int) -> int:
    """1 when the word before the name is an honorific kept in the mention ("Mr. Smith")."""
    return 1 if first > 0 and _norm(words[first - 1]).rstrip(".") in _HONORIFICS else 0


def _chunks(toks: list[tuple[int, int, str]], masked: str) -> list[list[tuple[int, int, str]]]:
    """Split subject tokens at commas (appositives) and dashes."""
    out: list[list[tuple[int, int, str]]] = [[]]
    for i, t in enumerate(toks):
        out[-1].append(t)
        gap_end = toks[i + 1][0] if i + 1 < len(toks) else t[1] + 1
        if t[2].endswith(",") or _APPOSITION_GAP.search(masked, t[1], gap_end):
            out.append([])
    return [c for c in out if c]


def _pick_subject(text: str, masked: str, toks: list[tuple[int, int, str]], after: bool) -> _Mention | None:
    """The speaker among the comma chunks of a subject phrase: a name beats a role in apposition."""
    if not toks or len(toks) > 25:
        return None
    chunks = _chunks(toks, masked)
    mentions = [_mention_of(text, c) for c in chunks]
    order = list(range(len(chunks))) if after else list(range(len(chunks) - 1, -1, -1))
    for k in order:
        if mentions[k] and mentions[k].kind in ("name", "pronoun"):
            # A name further away only counts when what lies between is an apposition.
            between = chunks[k + 1 :] if not after else chunks[:k]
            if all(_norm(c[0][2]) in _DETERMINERS or not c[0][2][0].isupper() for c in between):
                return mentions[k]
    if len(chunks) > 3:
        return None
    k = 0 if after else len(chunks) - 1
    if not after:
        # The subject is the whole last chunk ("In a statement, the ministry said").
        return mentions[k]
    return mentions[k] if mentions[k] and mentions[k].kind != "pronoun" else None


def _sentence_start(masked: str, pos: int, floor: int) -> int:
    """Start of the sentence holding ``pos`` (never before ``floor``)."""
    best = floor
    # The lookahead needs to see the character at ``pos`` (often the opening mark itself).
    for m in _SENT_END.finditer(masked, floor, min(len(masked), pos + 2)):
        if m.end() <= pos and not _abbrev_before(masked, m.start()):
            best = m.end()
    return best


def _sentence_end(masked: str, pos: int, ceil: int) -> int:
    """End of the sentence holding ``pos`` (never after ``ceil``)."""
    for m in _SENT_END.finditer(masked, pos, ceil):
        if not _abbrev_before(masked, m.start()):
            return m.start()
    return ceil


def _abbrev_before(masked: str, dot: int) -> bool:
    if masked[dot] != ".":
        return False
    m = _LAST_WORD.search(masked[max(0, dot - 12) : dot])
    word = m.group(1).lower() if m else ""
    return word in _ABBREV or (len(word) == 1 and word.isalpha()) or bool(_DOTTED.fullmatch(word))


Attr = tuple[_Mention, str, float]


def _after(text: str, masked: str, g: _Seg, p1: int) -> Attr | None:
    """``"...," Okafor said`` and ``"...," said Okafor``."""
    if g.close_at is None:
        return None
    lo = g.close_at + 1
    hi = _sentence_end(masked, lo + 1, p1)
    nxt = _OPEN_DOUBLE.search(masked, lo, hi)
    hi = nxt.start() if nxt else hi
    # Only a reporting verb or "according" among the first 28 words can give a cue: look at the
    # words alone first (findall), and read offsets only for a sentence that has one.
    if not any(w.lower().rstrip(".,:;") in _CUE_WORDS for w in _WORD.findall(masked, lo, hi)[:28]):
        return None
    toks = _tokens(masked, lo, hi)
    for i, (s, e, w) in enumerate(toks[:28]):
        low = w.lower().rstrip(".,:;")
        if low == "according" and i + 1 < len(toks) and toks[i + 1][2].lower() == "to":
            m = _pick_subject(text, masked, _until_clause(toks[i + 2 :], masked), after=True)
            return (m, "according to", 0.85) if m else None
        if low not in _VERBS:
            continue
        if i == 0 or all(_norm(t[2]) in _AUX for t in toks[:i]):
            if low in _INVERTIBLE:
                m = _pick_subject(text, masked, _until_clause(toks[i + 1 :], masked), after=True)
                return (m, text[s:e].rstrip(".,:;"), 0.9) if m else None
            return None
        if _norm(toks[0][2]) in _PREPOSITIONS:
            return None  # '"...," with a passion that suggested': no subject here
        m = _pick_subject(text, masked, toks[:i], after=True)
        if m is None and low in _INVERTIBLE and "," in masked[toks[i - 1][1] : s]:
            # '"...the beginning of the end" for the EU, said Geert Wilders'
            m = _pick_subject(text, masked, _until_clause(toks[i + 1 :], masked), after=True)
            return (m, text[s:e].rstrip(".,:;"), 0.8) if m else None
        return (m, text[s:e].rstrip(".,:;"), 0.9) if m else None
    return None


def _until_clause(toks: list[tuple[int, int, str]], masked: str) -> list[tuple[int, int, str]]:
    """Tokens of the subject after an inverted verb: up to the end of the name or apposition."""
    out = []
    for t in toks:
        if _norm(t[2]) in {"in", "on", "at", "during", "after", "before", "while", "when", "who", "as", "that"}:
            break
        out.append(t)
        if len(out) >= 14:
            break
    return out


def _before(
    text: str, masked: str, g: _Seg, p0: int, toks: list[tuple[int, int, str]], norms: list[str]
) -> Attr | None:
    """``Okafor said: "..."``, ``He told reporters that "..."``, ``According to X, "..."``.

    ``toks`` are the words of the sentence before the opening mark (:func:`_lead_tokens`), ``norms``
    their :func:`_norm`.
    """
    lead_in = masked[:p0].rstrip() if not toks else ""
    if not toks and lead_in.endswith(":"):
        # 'In a statement, the group said:' closes the paragraph before a paragraph-long quote.
        toks = _tokens(masked, _sentence_start(masked, len(lead_in), lead_in.rfind("\n") + 1), len(lead_in))
        norms = [w.lower().rstrip(".,:;") for _, _, w in toks]
    if _CUE_WORDS.isdisjoint(norms):
        return None  # no reporting verb and no "according": the loop below finds nothing
    for i in range(len(toks) - 1, -1, -1):
        s, e, w = toks[i]
        low = w.lower().rstrip(".,:;")
        if low == "according" and i + 1 < len(toks) and toks[i + 1][2].lower().startswith("to"):
            sub = [t for t in toks[i + 2 :] if t[0] < g.open_at]
            m = _pick_subject(text, masked, _chunks(sub, masked)[0] if sub else [], after=True)
            return (m, "according to", 0.8) if m else None
        if low not in _VERBS or (i > 0 and _norm(toks[i - 1][2]) in _PASSIVE):
            continue  # "Pence was asked about the 'not there yet' comment": not Pence's words
        subj = toks[:i]
        while subj and _norm(subj[-1][2]) in _AUX:
            subj = subj[:-1]
        m = _pick_subject(text, masked, subj[-25:], after=False) if subj else None
        if m is None and low in _INVERTIBLE:
            m = _pick_subject(text, masked, _until_clause(toks[i + 1 :], masked), after=True)
        return (m, text[s:e].rstrip(".,:;"), 0.8) if m else None
    return None


# --- resolution -------------------------------------------------------------------------------


class _People:
    """Persons named in one article, for surname and pronoun resolution.

    Each part is found on first use, and line by line where that gives the same answer: many
    articles attribute no quote by a bare surname or a pronoun, and most that do resolve it from
    a few lines, so the article-wide name search (:attr:`named`, :attr:`full`) runs only when
    needed. Names never cross a line (:func:`_names_in`).
    """

    def __init__(self, text: str, lines: list[tuple[int, int]]) -> None:
        self.text = text
        self.lines = lines  # _paragraphs(text)
        self._ending: dict[str, list[tuple[int, int, str]]] = {}  # word -> _named_ending(word)
        self._lines: dict[int, list[tuple[int, int, str]]] = {}  # line start -> full names on that line
        self._stretches: dict[int, list[tuple[int, int, str]]] = {}  # the same, between _RUN_BREAKS

    @functools.cached_property
    def named(self) -> list[tuple[int, int, str]]:
        """Full names, as :func:`person_names` finds them."""
        return person_names(self.text)

    @functools.cached_property
    def surnames(self) -> frozenset[str]:
        """Last words of the full names (a surname-only mention in :attr:`full` stands for one of them)."""
        return frozenset(n.split()[-1] for _, _, n in self.named)

    @functools.cached_property
    def full(self) -> list[tuple[int, int, str]]:
        """Every mention of a named person, surname-only ones included, in text order."""
        named = self.named
        names = [n for _, _, n in named]
        # Surname-only mentions count as mentions of the full name, for pronoun resolution.
        surnames = {n.split()[-1]: n for n in names}
        extra = []
        inside = _Spans(named)
        resolved: dict[str, str] = {}  # word -> the full name it stands for, in this article
        for start, end, word in _surname_words(self.text, surnames) if surnames else ():
            name = surnames.get(_strip_possessive(word) if word[-1] in "s’'" else word)
            if name and not inside.cover(start):
                if word not in resolved:
                    resolved[word] = full_name(word, names) or name
                extra.append((start, end, resolved[word]))
        return sorted(named + extra)

    @functools.cached_property
    def gender(self) -> dict[str, str]:
        """Gender of full names that follow an honorific ("Mrs. Petra Novak")."""
        gender: dict[str, str] = {}
        for s, _, name in self.named:
            hon = _HON_BEFORE.search(self.text[max(0, s - 8) : s])
            if hon:
                gender.setdefault(name, "f" if hon.group(1).lower() in _FEMALE_HON else "m")
        return gender

    def resolve_name(self, mention: _Mention) -> str:
        toks = _clean_name(mention.text.split())
        if len(toks) >= 2:
            return " ".join(toks)
        if "full" not in self.__dict__ and toks:
            # Known names that end with the mention: with at most one, the order of mentions (which
            # needs every surname mention in the article) cannot change the answer.
            ending = set(self._names_ending(toks[-1]))
            if len(ending) <= 1:
                return ending.pop() if ending else toks[-1]
            # Several: the latest mention of one of them before this one, when it is nearby.
            for name in self._nearby(mention.start, []):
                if name in ending:
                    return name
        before = [n for s, _, n in reversed(self.full) if s < mention.start]
        after = [n for s, _, n in self.full if s >= mention.start]
        return full_name(mention.text, before + after) or " ".join(toks)

    def has_surname(self, word: str) -> bool:
        """``word in self.surnames``, without naming the whole article when it is not done yet."""
        if "named" in self.__dict__:
            return word in self.surnames
        return bool(self._names_ending(word))

    def _names_ending(self, word: str) -> list[str]:
        """The full names whose last word is ``word``, in text order."""
        return [n for _, _, n in self._named_ending(word) if n.split()[-1] == word]

    def _named_ending(self, word: str) -> list[tuple[int, int, str]]:
        """The full names around each place where ``" " + word`` occurs: every name whose last word is ``word``.

        A name is kept only where the text spells it with single spaces, so a name ending with
        ``word`` puts ``" " + word`` in the text, after another word of the name
        (:func:`_after_name_word`). A name lies inside a capitalised run, which holds no newline
        or clause punctuation: :func:`_names_in` reads just the stretch between those around each
        such place.
        """
        if "named" in self.__dict__:
            return self.named
        found = self._ending.get(word)
        if found is None:
            text, needle, found, end = self.text, " " + word, [], -1
            at = text.find(needle)
            while at >= 0:
                if at >= end and _after_name_word(text, at):  # a stretch not read for this word
                    line_start = text.rfind("\n", 0, at) + 1
                    end = text.find("\n", at)
                    end = len(text) if end < 0 else end
                    start = max(line_start, max(text.rfind(c, line_start, at) for c in _RUN_BREAKS) + 1)
                    end = min([e for e in (text.find(c, at, end) for c in _RUN_BREAKS) if e >= 0], default=end)
                    names = self._stretches.get(start)
                    if names is None:
                        names = self._stretches[start] = _names_in(text, start, end)
                    found += names
                at = text.find(needle, at + 1)
            self._ending[word] = found
        return found

    def _line_names(self, start: int, end: int) -> list[tuple[int, int, str]]:
        """``_names_in`` one line (``start``, ``end``: the line's bounds), once."""
        names = self._lines.get(start)
        if names is None:
            names = self._lines[start] = _names_in(self.text, start, end)
        return names

    def resolve_pronoun(self, mention: _Mention, speakers: list[tuple[int, str]]) -> str | None:
        want = _PRONOUNS.get(mention.text.lower())
        if want not in ("m", "f"):
            return None
        if "full" not in self.__dict__:
            for name in self._nearby(mention.start, speakers):
                g = self._gender_of(name)
                if g is None or g == want:
                    return name
        cands = [(s, n) for s, _, n in self.full if s < mention.start] + [
            (s, n) for s, n in speakers if s < mention.start
        ]
        for _, name in sorted(cands, reverse=True):
            g = self.gender.get(name)
            if g is None or g == want:
                return name
        return None

    def _nearby(self, at: int, speakers: list[tuple[int, str]], back: int = 3) -> Iterator[str]:
        """Names of the mentions in :attr:`full` and of ``speakers`` before ``at``, latest first (ties: by
        name, descending), on ``at``'s line and the ``back - 1`` lines before it.

        Lines are read one by one, latest first: a line's mentions all come after those of the lines
        before it. A full name or a speaker is known; a capitalised word outside full names is a
        surname-only mention when it is the last word of a full name, looked up only when reached.
        """
        starts = [s for s, _ in self.lines]
        line = bisect.bisect_right(starts, at) - 1
        for p0, p1 in self.lines[max(line - back + 1, 0) : line + 1][::-1]:
            hi = min(p1, at)
            named = self._line_names(p0, p1)
            inside = _Spans(named)
            at_start: dict[int, list[str | re.Match[str]]] = {}
            for s, _, n in named:
                if s < hi:
                    at_start.setdefault(s, []).append(n)
            for s, n in speakers:
                if p0 <= s < hi:
                    at_start.setdefault(s, []).append(n)
            for m in _CAPWORD.finditer(self.text, p0, p1):  # to the line's end, as in the whole text
                if m.start() >= hi:
                    break
                if not inside.cover(m.start()):
                    at_start.setdefault(m.start(), []).append(m)
            for s in sorted(at_start, reverse=True):
                names = [c if isinstance(c, str) else self._surname_mention(c.group(1)) for c in at_start[s]]
                yield from sorted((n for n in names if n), reverse=True)

    def _surname_mention(self, word: str) -> str | None:
        """The full name a capitalised word outside full names stands for in :attr:`full`, if any.

        It is the last word of full names: the first of them, or the last one when the word is a
        title (then ``full_name`` gives None).
        """
        ending = self._names_ending(_strip_possessive(word) if word[-1] in "s’'" else word)
        return (full_name(word, ending) or ending[-1]) if ending else None

    def _gender_of(self, name: str) -> str | None:
        """``self.gender.get(name)``: set by the first mention of the full name after an honorific."""
        if "named" in self.__dict__:
            return self.gender.get(name)
        for s, _, n in self._named_ending(name.split()[-1]):
            if n == name:
                hon = _HON_BEFORE.search(self.text[max(0, s - 8) : s])
                if hon:
                    return "f" if hon.group(1).lower() in _FEMALE_HON else "m"
        return None


def _surname_words(text: str, surnames: dict[str, str]) -> list[tuple[int, int, str]]:
    """The ``_CAPWORD`` matches of ``text`` where a known surname starts, as ``(start, end, word)``.

    Same as filtering ``_CAPWORD.finditer(text)``, without matching every capitalised word of the
    article: ``str.find`` jumps to each surname and :func:`_capword_at` reads the word there.
    """
    starts = set()
    for surname in surnames:
        at = text.find(surname)
        while at >= 0:
            starts.add(at)
            at = text.find(surname, at + 1)
    out = []
    for at in sorted(starts):
        m = _capword_at(text, at)
        if m:
            out.append((at, m.end(), m.group(1)))
    return out


def _capword_at(text: str, at: int) -> re.Match[str] | None:
    """The match of ``_CAPWORD.finditer(text)`` that starts at ``at``, if there is one.

    A match is a capital and word characters, apostrophes or hyphens, so one never straddles the
    start of a run of those characters: finditer from that start sees what finditer from 0 sees.
    Most words start their run (the character before is a space or punctuation).
    """
    if at == 0 or text[at - 1] not in "’'-":
        return _CAPWORD.match(text, at)  # the common case; after a word character, no match at all
    lo = at
    while lo > 0 and (text[lo - 1] in "’'-_" or text[lo - 1].isalnum()):  # [\w’'\-]
        lo -= 1
    for m in _CAPWORD.finditer(text, lo):
        if m.start() >= at:
            return m if m.start() == at else None
    return None


class _Spans:
    """Which offsets lie inside some span, by bisection (no set of every covered offset)."""

    def __init__(self, spans: list[tuple[int, int, str]]) -> None:
        ordered = sorted((s, e) for s, e, _ in spans)
        self.starts = [s for s, _ in ordered]
        self.reach = list(itertools.accumulate((e for _, e in ordered), max))  # furthest end so far

    def cover(self, at: int) -> bool:
        k = bisect.bisect_right(self.starts, at) - 1
        return k >= 0 and self.reach[k] > at


def _resolve(mention: _Mention, people: _People, speakers: list[tuple[int, str]]) -> str | None:
    if mention.kind == "name":
        return people.resolve_name(mention)
    if mention.kind == "pronoun":
        return people.resolve_pronoun(mention, speakers)
    return mention.text


# --- grouping ---------------------------------------------------------------------------------


def _own_attr(text: str, masked: str, g: _Seg, para: tuple[int, int], people: _People) -> Attr | None:
    """The cue in the quote's own sentence, trying the likelier side first."""
    inner = text[g.start : g.end].rstrip()
    after_mark = text[g.close_at + 1 : g.close_at + 2] if g.close_at is not None else ""
    trailing = (inner[-1:] in (",", "?", "!", "—", "-")) or after_mark == ","
    if trailing:
        a = _after(text, masked, g, para[1])
        if a:
            return a
    # _before and _sentence_subject read the same words: tokenise the lead-in once, normalise it once.
    lead = _lead_tokens(masked, g, para[0])
    norms = [w.lower().rstrip(".,:;") for _, _, w in lead]  # _norm of each word
    a = _before(text, masked, g, para[0], lead, norms) or (None if trailing else _after(text, masked, g, para[1]))
    return a or _sentence_subject(text, masked, lead, norms, people)


def _lead_tokens(masked: str, g: _Seg, p0: int) -> list[tuple[int, int, str]]:
    """The words of the quote's sentence before its opening mark."""
    return _tokens(masked, _sentence_start(masked, g.open_at, p0), g.open_at)


_PASSIVE = frozenset("was were is are been being be get got gets".split())
_NOT_CUES = frozenset("who which whose whom that and or but nor is was were are".split())


def _sentence_subject(
    text: str, masked: str, toks: list[tuple[int, int, str]], norms: list[str], people: _People
) -> Attr | None:
    """No reporting verb: the named subject of the sentence that leads into the quote (its words ``toks``,
    their :func:`_norm` ``norms``).

    ``He pledged to be "the greatest..."`` or ``Earlier, Clinton shared her anxiety: "..."``.
    """
    if not toks:
        return None
    # Clauses start after a word followed (within two characters) by , : ; or —: find those once.
    punct = {m.start() for m in _CLAUSE_PUNCT.finditer(masked, toks[0][1], toks[-1][1] + 2)}
    starts = {0} | {i + 1 for i, t in enumerate(toks) if t[1] in punct or t[1] + 1 in punct} if punct else {0}
    for i in sorted(starts):
        while i < len(toks) and norms[i] in _LEAD_ONLY:
            i += 1
        j = i
        while j < len(toks) and norms[j] not in _PRONOUNS and (
            toks[j][2][0].isupper() or norms[j] in _PARTICLES  # _capish
            or (toks[j][2] == "of" and j + 1 < len(toks) and toks[j + 1][2][0].isupper())
        ):
            j += 1  # "Former Secretary of State Madeleine Albright"
        if j == i and i < len(toks) and norms[i] in ("he", "she"):
            j = i + 1
        if i == j or j >= len(toks) or not toks[j][2][0].islower() or norms[j] in _PREPOSITIONS:
            continue
        if norms[j] in _NOT_CUES:
            continue
        m = _mention_of(text, toks[i:j])
        # Without a cue, a lone capitalised word is too weak ("Security situation in ...").
        if m and (m.kind == "pronoun" or (m.kind == "name" and (" " in m.text or people.has_surname(m.text)))):
            return m, toks[j][2].rstrip(".,:;"), 0.55
    return None


def _inherit(segs: list[_Seg], text: str, masked: str, paras: list[tuple[int, int]]) -> None:
    """Give quotes without a cue the speaker of the quote they continue."""
    for k, g in enumerate(segs):
        if g.attr is not None or k == 0:
            continue
        prev = segs[k - 1]
        if prev.attr is None:
            continue
        p0 = paras[g.para][0]
        continues = prev.para == g.para or (
            prev.para == g.para - 1 and prev.close_at is None and g.open_at == _first_char(text, p0)
        )
        lead_in = masked[p0 : g.open_at].strip()
        whole_para = prev.para == g.para - 1 and g.open_at == _first_char(text, p0) and not lead_in
        if continues:
            g.attr = prev.attr[:5] + (min(prev.attr[5], 0.75),)
        elif whole_para and _closes_para(text, masked, g, paras[g.para]):
            g.attr = prev.attr[:5] + (0.5,)
    # Backwards: "“A.” “B,” he said." or a multi-paragraph quote attributed in its last paragraph.
    for k in range(len(segs) - 2, -1, -1):
        g, nxt = segs[k], segs[k + 1]
        if g.attr is None and nxt.attr is not None:
            same = nxt.para == g.para and not _WORD_CHARS.search(masked, (g.close_at or g.end) + 1, nxt.open_at)
            chained = nxt.para == g.para + 1 and g.close_at is None
            if same or chained:
                g.attr = nxt.attr[:5] + (min(nxt.attr[5], 0.7),)


def _first_char(text: str, p0: int) -> int:
    i = p0
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _closes_para(text: str, masked: str, g: _Seg, para: tuple[int, int]) -> bool:
    """True when nothing but punctuation follows the quote in its paragraph."""
    tail = masked[(g.close_at if g.close_at is not None else g.end) + 1 : para[1]]
    return not _ASCII_LETTER.search(tail)


def find_quotes(text: str, cfg: QuotesConfig, *, min_confidence: float | None = None) -> list[QuoteSpan]:
    """Direct quotes in ``text`` with their speakers, in text order.

    Args:
        text: the article body.
        cfg: ``min_quote_words`` drops shorter quoted strings (titles, scare quotes).
        min_confidence: drop quotes below this confidence; None means ``cfg.min_confidence``. A quote with no speaker found scores
            0.3, one whose subject could not be resolved (a bare "they") at most 0.45.

    Returns:
        One :class:`QuoteSpan` per quoted segment kept; ``text[q.start:q.end] == q.quote``.

    Example:
        >>> q = find_quotes("“We will stay and fight,” Jane Roe said.", QuotesConfig())[0]
        >>> (q.quote, q.speaker, q.cue)
        ('We will stay and fight,', 'Jane Roe', 'said')
    """
    if min_confidence is None:
        min_confidence = cfg.min_confidence
    if not text or not isinstance(text, str):
        return []
    paras = _paragraphs(text)
    every = _segments(text, paras)
    segs = [g for g in every if _is_quote(text, g, cfg.min_quote_words)]
    if not segs:
        return []
    _attribute(text, segs, _mask(text, every), paras)
    out = []
    for g in segs:
        attr = g.attr or (None, None, None, None, None, 0.3)
        if attr[5] >= min_confidence:
            out.append(QuoteSpan(g.start, g.end, text[g.start : g.end], *attr))
    return out


def _attribute(text: str, segs: list[_Seg], masked: str, paras: list[tuple[int, int]]) -> None:
    """Set ``attr`` of every segment that has a speaker of its own or continues one that has (``paras``: its lines)."""
    people = _People(masked, paras)  # masking keeps every newline: the text's lines are the mask's
    speakers: list[tuple[int, str]] = []
    for g in segs:
        found = _own_attr(text, masked, g, paras[g.para], people)
        if found is None:
            continue
        mention, cue, conf = found
        speaker = _resolve(mention, people, speakers)
        if speaker and mention.kind == "name" and len(speaker.split()) >= 2:
            speakers.append((mention.start, speaker))
        g.attr = (speaker, mention.text, mention.start, mention.end, cue, conf if speaker else conf / 2)
    _inherit(segs, text, masked, paras)


# --- step -------------------------------------------------------------------------------------


@dataclass
class Quotes:
    """Map step: articles -> one row per direct quote.

    An article that runs past ``config.timeout_s`` (or raises) gives one row with only ``article_id`` and
    a ``_reject`` reason instead of its quotes; the pipeline moves it to the rejects table.
    """

    config: QuotesConfig = field(default_factory=QuotesConfig)
    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "text")
    output_schema: ClassVar[pa.Schema] = with_reject(model.QUOTE)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = []
        with record_limits(self.config.timeout_s) as limited:
            for article_id, text in zip(batch["article_id"].to_pylist(), batch["text"].to_pylist()):
                found, reason = limited(find_quotes, text or "", self.config)
                if reason:
                    rows.append((None, article_id, None, None, None, None, None, None, None, None, None, reason))
                    continue
                rows.extend(
                    (model.stable_id(article_id, q.start, q.end), article_id, q.start, q.end, q.quote, q.speaker,
                     q.speaker_mention, q.speaker_start, q.speaker_end, q.cue, q.confidence, None)
                    for q in found or []
                )
        return _table(rows, self.output_schema)


def _table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Rows given as tuples in ``schema``'s column order, as a table (cheaper than dicts)."""
    cols = list(zip(*rows)) if rows else [()] * len(schema)
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema)], schema=schema)

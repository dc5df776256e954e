"""Figures: numbers with what they count ("40,000 foreigners", "$25 million", "9 percent").

A figure is a number (digits with thousands commas and decimals, or number words such as
"three" and "two million"), scaled by thousand/million/billion, with its unit: a currency code
for money (``"$25 million"`` -> 25e6 USD), ``"percent"`` for ``%``/"percent"/"per cent", else
the plural noun it counts within the next few words (``"15,000 Islamic State extremists"`` ->
"extremists"). ``text[start:end] == surface``, which runs from the currency sign or number to the
counted noun. Dates, times, years, ordinals, model names ("F-16") and numbered labels ("No. 5",
"page 3") are skipped: they are not quantities a reader compares across articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np
import pyarrow as pa

from .. import model
from ..config import FiguresConfig
from .base import record_limits, with_reject

__all__ = ["FigureSpan", "Figures", "find_figures"]


@dataclass(frozen=True, slots=True)
class FigureSpan:
    """One figure: normalised ``value``, ``unit`` and the sentence that carries it."""

    start: int
    end: int
    value: float
    unit: str | None
    surface: str
    context: str


_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "dozen": 12,
}  # fmt: skip
# "one" alone is too common to be a figure, but it ends compounds: "twenty-one", "ninety one".
_SECOND = {**_WORDS, "one": 1}
_SCALE = {
    "hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12,
    "k": 1e3, "m": 1e6, "mn": 1e6, "bn": 1e9, "b": 1e9, "tn": 1e12,
}  # fmt: skip
_CURRENCY = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}  # by the sign: "US$" is "$" (in any case: "uſ$")
_CURRENCY_WORDS = {"dollars": "USD", "dollar": "USD", "euros": "EUR", "euro": "EUR", "pounds": "GBP"}
_MONTHS = frozenset(
    """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
_LABELS = frozenset("no no. number page pages p. pp. section article chapter route room flight vol volume".split())
_PLURAL_IRREGULAR = frozenset(
    """people men women children police personnel staff troops cattle sheep fish aircraft
    militia youth clergy""".split()
)
_NOT_NOUNS = frozenset(
    """was is has this as us its his yes thus plus less news series species always perhaps
    whereas across various previous serious famous dangerous numerous""".split()
)
_STOP = frozenset(
    """of the a an and or to in on at by for from with than more less about nearly almost some
    over under up down per into out who which that were are was is have has had be been will would
    could should may might can said says""".split()
)

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
# Each number word must end at a word boundary: "tenants" holds no ten, "Tennessee" no ten.
_WORDNUM = r"(?:" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b(?:[\s-]+(?:" + "|".join(_SECOND) + r")\b)?"
_FIGURE = re.compile(
    rf"(?:(?P<cur>US\$|[$€£¥])\s?)?(?P<num>{_NUM})(?P<scale>\s*(?:hundred|thousand|million|billion|trillion)\b"
    rf"|(?:k|m|mn|bn|b|tn)\b)?(?P<pct>\s?%|\s+per\s?cent\b)?"
    rf"|\b(?P<word>{_WORDNUM})(?P<wscale>\s+(?:hundred|thousand|million|billion|trillion)\b)?"
    rf"(?P<wpct>\s+per\s?cent\b)?",
    re.IGNORECASE,
)
# The next token after ``pos`` (a letter, then word characters, apostrophes and hyphens), if no stop
# character (.,;:!?()\n) comes before it.
_NEXT_TOKEN = re.compile(r"[^A-Za-z.,;:!?()\n]*([A-Za-z][\w’'\-]*)")
# A sentence end: ``[.!?][\"”’)]?\s+(?=[\"“A-Z0-9])|\n``, written to start with one character class
# so that re can skip ahead to the next candidate.
_SENT = re.compile(r"[.!?\n](?:(?<=\n)|(?<=[.!?])[\"”’)]?\s+(?=[\"“A-Z0-9]))")
_IN_SENTENCE_END = frozenset(".!?\"”’)")  # with whitespace, the characters of a _SENT match
_ABBREV_END = re.compile(r"\b(?:[A-Z]|Mr|Mrs|Ms|Dr|St|No|U\.S)$")
_WORDISH = re.compile(r"[\w.]+")
# After a number: a time or ordinal (any case: "10:30", "3rd", "5 PM"), or a model name or version ("G20", "3.1").
_AFTER_NUM = re.compile(
    r"(?i:[:/]\d|st\b|nd\b|rd\b|th\b|\s*(?:a\.m|p\.m|am\b|pm\b|gmt|utc|et\b|bst))"
    r"|[-‐]?[A-Za-z]\d|\.\d"
)
_MODEL_BEFORE = re.compile(r"[A-Za-z][-‐]?$|[:/]$")
_YEAR = re.compile(r"1[5-9]\d\d|20\d\d")
_HYPHEN_UNIT = re.compile(r"-([a-z]+(?:-[a-z]+)?)\b")
_WORD_SPLIT = re.compile(r"[\s-]+")

# Where a _FIGURE match can start, found in one compiled pass over the text's code points so
# that the slow full pattern is only tried there: a digit or currency sign (and two characters
# before a "$", for "US$"), or a number word between word boundaries. The tables come from ``re``
# itself (what ``\d`` and ``\w`` match, and which characters _FIGURE's case folding lets stand
# for each letter: "ſ" for "s", "K" (Kelvin) for "k"), so no start is missed; an extra start
# only costs a failed match, so characters beyond the BMP count as digits and as word ends.
# Flag bits: a digit or currency sign; a word character; a letter that begins a number word.
_NUMBER_START, _WORDCH, _WORD_BEGIN = 1, 2, 4


def _bmp_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per BMP code point: flags (``\\d`` or a currency sign, ``\\w``) and the letter it matches ignoring case.

    The letter is its index in ``a..z`` plus one, 0 for none. _WORD_BEGIN is set once the trie exists.
    """
    bmp = "".join(map(chr, range(65536)))
    flags = np.zeros(65536, np.uint8)
    flags[[m.start() for m in re.finditer(r"[$€£¥\d]", bmp)]] |= _NUMBER_START
    flags[[m.start() for m in re.finditer(r"\w", bmp)]] |= _WORDCH
    fold = np.zeros(65536, np.uint8)
    for k, letter in enumerate("abcdefghijklmnopqrstuvwxyz"):
        fold[[m.start() for m in re.finditer(letter, bmp, re.IGNORECASE)]] = k + 1
    return flags, fold


def _word_trie(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A trie of ``words``: ``next[node, letter]`` (-1: no word goes on so; the root is node 0) and ``final``."""
    nodes = [{}]
    final = [False]
    for word in words:
        node = 0
        for ch in word:
            if ch not in nodes[node]:
                nodes[node][ch] = len(nodes)
                nodes.append({})
                final.append(False)
            node = nodes[node][ch]
        final[node] = True
    nxt = np.full((len(nodes), 27), -1, np.int16)
    for node, children in enumerate(nodes):
        for ch, child in children.items():
            nxt[node, ord(ch) - ord("a") + 1] = child
    return nxt, np.array(final)


_FLAGS, _FOLD = _bmp_tables()  # constants of Unicode and of re, built once at import
_TRIE, _FINAL = _word_trie(list(_WORDS))
_FLAGS[_TRIE[0, _FOLD] > 0] |= _WORD_BEGIN  # so most word starts are passed over on the flags alone


@numba.njit(cache=True, nogil=True)
def _start_kernel(cp: np.ndarray, flags: np.ndarray, fold: np.ndarray, trie: np.ndarray,
                  final: np.ndarray) -> np.ndarray:
    """Sorted positions in ``cp`` (code points) where a _FIGURE match can start."""
    n = cp.size
    out = np.empty(n + 1, np.int64)
    k = 0
    prev_word = False
    for i in range(n):
        c = cp[i]
        f = flags[c] if c < 65536 else _NUMBER_START
        if f & _NUMBER_START:
            if c == 36 and i >= 2:  # "US$", kept in order after a digit or sign just before it
                if k and out[k - 1] == i - 1:
                    out[k - 1] = i - 2
                    out[k] = i - 1
                    k += 1
                elif not (k and out[k - 1] == i - 2):
                    out[k] = i - 2
                    k += 1
                if k > 2 and out[k - 3] == out[k - 2]:  # i - 2 was there already
                    out[k - 2] = out[k - 1]
                    k -= 1
            out[k] = i
            k += 1
        elif f & _WORD_BEGIN and not prev_word:
            # Walk the trie along the word starting here: a number word must be all of it.
            node = trie[0, fold[c]]
            j = i + 1
            while node > 0 and j < n and cp[j] < 65536 and flags[cp[j]] & _WORDCH:
                node = trie[node, fold[cp[j]]]
                j += 1
            if node > 0 and final[node]:
                out[k] = i
                k += 1
        prev_word = (f & _WORDCH) != 0
    return out[:k]


def _starts(text: str) -> list[int]:
    """Where a _FIGURE match can start in ``text``, in order."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _start_kernel(cp, _FLAGS, _FOLD, _TRIE, _FINAL).tolist()


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence around ``[start, end)``, cut at 600 characters either side.

    It runs from the last sentence end (_SENT, not after an abbreviation such as "Mr.") that ends
    before ``start`` to the first that starts at or after ``end``, as a scan for them from 600
    characters before the figure finds them. A scan from a point nearer the figure finds the same
    ends after that point when the point does not fall inside one (an end is a stop, ``!``, ``?``
    or newline, a closing quote and spaces), so that is tried first, and the long scan is only
    needed when it finds no end before the figure.
    """
    lo_limit, hi_limit = max(0, start - 600), min(len(text), end + 600)
    near = max(lo_limit, start - 200)
    while near > lo_limit and (text[near - 1] in _IN_SENTENCE_END or text[near - 1].isspace()):
        near -= 1
    for scan_from in (near, lo_limit) if near > lo_limit else (lo_limit,):
        ends_before = []
        hi = len(text)
        for m in _SENT.finditer(text, scan_from, hi_limit):
            s, e = m.span()
            if e <= start:
                ends_before.append((s, e))
            elif s >= end:
                mark = m.group()
                hi = s + (0 if mark == "\n" else len(mark.rstrip()))
                break
        for s, e in reversed(ends_before):  # the last that is no abbreviation
            if not _ABBREV_END.search(text, max(0, s - 5), s):
                return text[max(e, lo_limit) : min(hi, hi_limit)].strip()
    return text[lo_limit : min(hi, hi_limit)].strip()


def _word_value(words: str) -> float:
    """"twenty five" -> 25, "two hundred" -> 200."""
    total = 0.0
    for w in _WORD_SPLIT.split(words.lower()):
        v = _SECOND.get(w, 0)
        total = total * v if v == 100 and total else total + v
    return total


def _is_date_or_label(text: str, s: int, e: int) -> bool:
    """Whether the number at ``text[s:e]`` is a time, ordinal, model name, day of the month or label.

    Looks at most 12 characters either side (the patterns' ``pos``/``endpos`` act as slices here).
    """
    before = max(0, s - 12)
    if _AFTER_NUM.match(text, e, e + 12) or _MODEL_BEFORE.search(text, before, s):
        return True  # 10:30, 3rd, 5 pm, F-16, G20, 3.1.2, 10/12
    prev_word = (_WORDISH.findall(text, before, s) or [""])[-1].lower()
    if prev_word in _MONTHS or prev_word in _LABELS:
        return True
    next_word = _WORDISH.search(text, e, e + 12)
    return next_word is not None and next_word.group().lower() in _MONTHS


def _unit_noun(text: str, pos: int) -> tuple[str | None, int]:
    """The plural noun counted by the number ending at ``pos`` and where it ends.

    It is one of the next four tokens within 60 characters, with no stop character before it and
    no stop word among the tokens before it ("8,000 armed river pirates", not "5 of the pirates").
    """
    limit = min(len(text), pos + 60)
    end = pos
    for _ in range(4):
        t = _NEXT_TOKEN.match(text, end, limit)
        if t is None:
            break  # a stop character first, or no more tokens
        end = t.end()
        word = t.group(1).lower()
        if word in _PLURAL_IRREGULAR or (word.endswith("s") and len(word) > 3 and word not in _NOT_NOUNS
                                         and not word.endswith(("ss", "us", "is")) and word not in _STOP):
            return word, end
        if word in _STOP:
            break
    return None, pos


def _hyphen_unit(text: str, pos: int) -> tuple[str | None, int]:
    """"10-point lead" -> "point"; "23-year-old" is an age, kept as "year-old"."""
    m = _HYPHEN_UNIT.match(text, pos, pos + 30)
    return (m.group(1), m.end()) if m else (None, pos)


def _figure(text: str, m: re.Match[str]) -> FigureSpan | None:
    cur, num, scale, pct, word, wscale, wpct = m.groups()
    end = m.end()
    if word:
        value = _word_value(word) * _SCALE.get((wscale or "").strip().lower(), 1)
        unit, end = ("percent", end) if wpct else _unit_noun(text, end)
        if unit is None or value == 0:
            return None  # a number word without a counted noun is rarely a figure ("two of them")
    else:
        if len(num) == 4 and not (cur or pct or scale) and _YEAR.fullmatch(num):
            return None  # a bare year
        value = float(num.replace(",", "")) * _SCALE.get((scale or "").strip().lower(), 1)
        if pct:
            unit = "percent"
        elif cur:
            unit = _CURRENCY[cur[-1]]
        else:
            unit, end = _hyphen_unit(text, end)
            if unit is None:
                unit, end = _unit_noun(text, end)
            if unit in _CURRENCY_WORDS:
                unit = _CURRENCY_WORDS[unit]
            if unit is None and value < 100 and not scale:
                return None  # a bare small number ("(2)", "chapter 4 of 12") says nothing comparable
        if _is_date_or_label(text, *m.span("num")):
            return None  # checked last as it costs most
    start = m.start()  # a sign, digit or letter
    return FigureSpan(start, end, value, unit, text[start:end], _sentence(text, start, end))


def _figure_matches(text: str) -> Iterator[re.Match[str]]:
    """The matches of ``_FIGURE.finditer(text)``, trying the pattern only where one can start."""
    pos = 0
    for i in _starts(text):
        if i >= pos:
            m = _FIGURE.match(text, i)  # sees the text before ``i``, for ``\b``, as finditer does
            if m:
                yield m
                pos = m.end()


def find_figures(text: str) -> list[FigureSpan]:
    """Figures in ``text``, in order.

    Args:
        text: the article body.

    Returns:
        One :class:`FigureSpan` per quantity; ``text[f.start:f.end] == f.surface``.

    Example:
        >>> [(f.value, f.unit) for f in find_figures("Some 40,000 foreigners joined in 2014.")]
        [(40000.0, 'foreigners')]
    """
    if not text or not isinstance(text, str):
        return []
    out = []
    for m in _figure_matches(text):
        i = m.start()
        if i and (text[i - 1].isalnum() or text[i - 1] in ".,") and not m.group("cur"):
            continue  # inside a word or number ("G20", "1.5.2")
        fig = _figure(text, m)
        if fig is not None:
            out.append(fig)
    return out


def _table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Rows given as tuples in ``schema``'s column order, as a table (cheaper than dicts)."""
    cols = list(zip(*rows)) if rows else [()] * len(schema)
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema)], schema=schema)


@dataclass
class Figures:
    """Map step: articles -> one row per figure.

    An article that runs past ``config.timeout_s`` (or raises) gives one row with only ``article_id`` and
    a ``_reject`` reason instead of its figures; the pipeline moves it to the rejects table.
    """

    config: FiguresConfig = field(default_factory=FiguresConfig)
    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "text")
    output_schema: ClassVar[pa.Schema] = with_reject(model.FIGURE)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = []
        _starts("1")  # loads (or first compiles) the kernel before any article's clock starts
        with record_limits(self.config.timeout_s) as limited:
            for article_id, text in zip(batch["article_id"].to_pylist(), batch["text"].to_pylist()):
                found, reason = limited(find_figures, text or "")
                if reason:
                    rows.append((None, article_id, None, None, None, None, None, None, reason))
                    continue
                rows.extend(
                    (model.stable_id(article_id, f.start, f.end), article_id, f.start, f.end, f.value, f.unit,
                     f.surface, f.context, None)
                    for f in found or []
                )
        return _table(rows, self.output_schema)

"""Direct quotes and speaker attribution (invented articles)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storyline import model
from storyline.config import QuotesConfig
from storyline.steps.base import params, rebuild, with_reject
from storyline.steps.quotes import Quotes, find_quotes, full_name, person_names

CFG = QuotesConfig()
SEEDS = Path(__file__).resolve().parents[2] / "shared/data/seeds"

CASES = {
    "split": (
        "Engineer Maria Delgado inspected the site.\n\n“We will rebuild the bridge,” Delgado said. "
        "“It will take two years.”",
        [("We will rebuild the bridge,", "Maria Delgado"), ("It will take two years.", "Maria Delgado")],
    ),
    "multi_paragraph": (
        "Port director Omar Haddad described the night.\n\n“The cranes stopped at midnight and nobody "
        "knew why. We waited for hours.\n\n“By morning the ships were gone,” Haddad said.",
        [
            ("The cranes stopped at midnight and nobody knew why. We waited for hours.", "Omar Haddad"),
            ("By morning the ships were gone,", "Omar Haddad"),
        ],
    ),
    "pronoun": (
        "Health minister Sofia Lindqvist visited the clinic on Monday.\n\n"
        "“We need more nurses in every district,” she said.",
        [("We need more nurses in every district,", "Sofia Lindqvist")],
    ),
    "pronoun_gender": (
        "Mrs. Petra Novak met Mr. Karel Dvorak in Brno. Dvorak left early.\n\n"
        "“The agreement is fair to both towns,” she said.",
        [("The agreement is fair to both towns,", "Petra Novak")],
    ),
    "surname": (
        "Dmitri Volkov, the head of the port authority, arrived late.\n\n"
        "“The delays are simply unacceptable,” Volkov told reporters.",
        [("The delays are simply unacceptable,", "Dmitri Volkov")],
    ),
    "role_before_name": (
        "“Prices will keep rising this winter,” the chief economist of Nordbank, Ingrid Solberg, said.",
        [("Prices will keep rising this winter,", "Ingrid Solberg")],
    ),
    "title_in_name": (
        "“The border will stay open,” Interior Minister Jonas Petrauskas said on Friday.",
        [("The border will stay open,", "Jonas Petrauskas")],
    ),
    "inverted": (
        "“The river is rising fast,” said Tomas Berg, the mayor of Linden.",
        [("The river is rising fast,", "Tomas Berg")],
    ),
    "verb_before": (
        'Mayor Ana Reyes added: "Nobody will be left behind tonight."',
        [("Nobody will be left behind tonight.", "Ana Reyes")],
    ),
    "honorific": (
        "Chinedu Okafor runs the spice market.\n\n“Business is slower than last year,” Mr. Okafor said.",
        [("Business is slower than last year,", "Chinedu Okafor")],
    ),
    "according_to": (
        "“The talks have collapsed for good,” according to Lena Fischer, a negotiator.",
        [("The talks have collapsed for good,", "Lena Fischer")],
    ),
    "description": (
        '"We have no comment at this time," a spokesman for the ministry said.',
        [("We have no comment at this time,", "a spokesman for the ministry")],
    ),
    "partial_quote": (
        "Senator Rafael Ortiz said the plan was “a gift to the big banks” and would fail.",
        [("a gift to the big banks", "Rafael Ortiz")],
    ),
}


@pytest.mark.parametrize("text, expected", list(CASES.values()), ids=list(CASES))
def test_quotes_attribution(text: str, expected: list[tuple[str, str]]) -> None:
    got = [(q.quote, q.speaker) for q in find_quotes(text, CFG)]
    assert got == expected


@pytest.mark.parametrize("text", [t for t, _ in CASES.values()], ids=list(CASES))
def test_quotes_offsets_point_into_text(text: str) -> None:
    for q in find_quotes(text, CFG):
        assert text[q.start : q.end] == q.quote
        assert q.speaker_mention is None or text[q.speaker_start : q.speaker_end] == q.speaker_mention
        assert 0.0 <= q.confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "“Schools will reopen on Monday morning,” Clara Weiss said.",
        '"Schools will reopen on Monday morning," Clara Weiss said.',
        "«Schools will reopen on Monday morning», Clara Weiss said.",
        "„Schools will reopen on Monday morning“, Clara Weiss said.",
        "‘Schools will reopen on Monday morning,’ Clara Weiss said.",
    ],
    ids=["curly", "straight", "guillemets", "german", "single"],
)
def test_quotes_mark_styles(text: str) -> None:
    [q] = find_quotes(text, CFG)
    assert q.quote.rstrip(",") == "Schools will reopen on Monday morning"
    assert q.speaker == "Clara Weiss"


@pytest.mark.parametrize(
    "text",
    [
        "The farmers’ union said it can’t accept the deal and won’t sign before the ’90s rules change.",
        "It's the workers' right, Joe's friends said, and they'll say it again at the union's hall.",
        "Rock ’n’ roll fans and the drivers’ club didn’t mind the rain.",
    ],
)
def test_quotes_apostrophes_are_not_quotes(text: str) -> None:
    assert find_quotes(text, CFG) == []


def test_quotes_single_marks_as_quotes() -> None:
    text = "The minister called it ‘a very bad deal for farmers’ on Tuesday, Piotr Zielinski wrote."
    [q] = find_quotes(text, CFG)
    assert q.quote == "a very bad deal for farmers"


@pytest.mark.parametrize(
    "text",
    [
        "She watched “Saturday Night Live” and read “The Old Man and the Sea” twice.",
        'See <a href="http://example.com/a-b-c">the link</a> for more.',
        "He called it “fake” and “sad,” the aide said.",
    ],
    ids=["titles", "html", "short"],
)
def test_quotes_skips_titles_and_short(text: str) -> None:
    assert find_quotes(text, CFG) == []


def test_quotes_unattributed_dropped_unless_asked() -> None:
    text = "The banner at the gate read nothing new.\n\n“Stay calm and keep walking north.”"
    assert find_quotes(text, CFG) == []
    [q] = find_quotes(text, CFG, min_confidence=0.0)
    assert (q.quote, q.speaker, q.speaker_mention, q.confidence) == ("Stay calm and keep walking north.", None, None, 0.3)


def test_quotes_min_words_is_configurable() -> None:
    text = "“Never,” Joan Ruiz said."
    assert find_quotes(text, CFG) == []
    assert [q.quote for q in find_quotes(text, QuotesConfig(min_quote_words=1))] == ["Never,"]


@pytest.mark.parametrize(
    "mention, names, expected",
    [
        ("Rasmussen", ["Jim Mattis", "Nicholas Rasmussen"], "Nicholas Rasmussen"),
        ("Mr. Rasmussen", ["Nicholas Rasmussen"], "Nicholas Rasmussen"),
        ("Sen. Ted Cruz", [], "Ted Cruz"),
        ("Baghdadi", ["Abu Bakr al Baghdadi"], "Abu Bakr al Baghdadi"),
        ("Smith", ["Nicholas Rasmussen"], None),
        ("", ["Nicholas Rasmussen"], None),
    ],
)
def test_quotes_full_name(mention: str, names: list[str], expected: str | None) -> None:
    assert full_name(mention, names) == expected


def test_quotes_person_names_skip_organisations() -> None:
    text = "Defense Secretary Jim Mattis met the Islamic State experts at the Aspen Security Forum."
    assert [n for _, _, n in person_names(text)] == ["Jim Mattis"]


_PIECES = st.sampled_from(list("ab cD.,\n\"“”‘’'«»„:-") + ["said", "He", " Ann Lee "])


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=120).map("".join))
def test_quotes_never_raise_and_offsets_hold(text: str) -> None:
    for q in find_quotes(text, CFG, min_confidence=0.0):
        assert text[q.start : q.end] == q.quote
        assert q.speaker_mention is None or text[q.speaker_start : q.speaker_end] == q.speaker_mention


def _batch(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"article_id": [a for a, _ in rows], "text": [t for _, t in rows]})


def test_quotes_step_contract() -> None:
    step = Quotes(QuotesConfig(min_quote_words=2))
    again = pickle.loads(pickle.dumps(rebuild(step)))
    assert params(again) == params(step)
    empty = again(_batch([]))
    assert empty.num_rows == 0 and empty.schema.equals(with_reject(model.QUOTE))
    text = CASES["split"][0]
    out = again(_batch([("a1", text), ("a2", "")]))
    assert out.schema.equals(with_reject(model.QUOTE))
    assert out.column("quote_id").to_pylist() == [
        model.stable_id("a1", s, e) for s, e in zip(out["start"].to_pylist(), out["end"].to_pylist())
    ]
    assert out.equals(again(_batch([("a1", text), ("a2", "")])))


def test_quotes_seeds_name_full_speakers() -> None:
    if not SEEDS.is_dir():
        pytest.skip("shared/data/seeds not present")
    pages = sorted(SEEDS.glob("*.txt"))
    assert pages
    attributed = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for q in find_quotes(text, CFG):
            assert text[q.start : q.end] == q.quote
            assert q.speaker is None or len(q.speaker.split()) >= 2, (page.name, q)
            attributed += q.speaker is not None
    assert attributed >= 4


_RUN_PIECES = st.sampled_from(list("AUSJ.’'- \t\nab,_0") + ["U.S.", "A.B.C.D.", "al ", "al-", "van ", "Mr. ", "é", "Ω"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_RUN_PIECES, max_size=60).map("".join))
def test_quotes_name_patterns_match_plain_forms(text: str) -> None:
    # _NAME_RUN and _CAPWORD put the capital first (so re can skip ahead); same matches as the plain forms.
    import re

    from storyline.steps import quotes

    cap = r"(?:(?:[A-Z]\.){1,3}|[A-Z][\w’'\-]*\.?)"
    part = r"(?:al|bin|ibn|de|del|la|le|van|von|der|da|di|du)"
    plain_run = re.compile(rf"(?<![\w’'\-]){cap}(?:[ \t]+(?:{part}[ \t]+|al-)?{cap})*")
    plain_cap = re.compile(r"\b([A-Z][\w’'\-]+)\b")
    assert [m.span() for m in quotes._NAME_RUN.finditer(text)] == [m.span() for m in plain_run.finditer(text)]
    assert [m.span(1) for m in quotes._CAPWORD.finditer(text)] == [m.span(1) for m in plain_cap.finditer(text)]


def _plain_person_names(text: str) -> list[tuple[int, int, str]]:
    """person_names without the one-word skip and the run cache."""
    from storyline.steps import quotes

    out = []
    for m in quotes._NAME_RUN.finditer(text):
        for start, toks in quotes._split_run(m.start(), m.group()):
            name = list(quotes._clean_name_cached.__wrapped__(tuple(toks)))
            if len(name) >= 2 and quotes._is_person_name(name):
                joined = " ".join(name)
                at = text.find(name[0], start)
                if text.startswith(joined, at):
                    out.append((at, at + len(joined), joined))
    return out


def _plain_mask(text: str, segs: list) -> str:
    import re

    chars = list(text)
    for m in re.finditer(r"\(([^()\n]{1,40})\)", text):
        chars[m.start(1) : m.end(1)] = " " * (m.end(1) - m.start(1))
    for g in segs:
        for k in range(g.start, g.end):
            if chars[k] != "\n":
                chars[k] = "_"
    return "".join(chars)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES | _RUN_PIECES, max_size=120).map("".join))
def test_quotes_fast_paths_match_plain_versions(text: str) -> None:
    from storyline.steps import quotes

    assert quotes.person_names(text) == _plain_person_names(text)
    segs = quotes._segments(text)
    assert quotes._mask(text, segs) == _plain_mask(text, segs)


def test_quotes_fast_paths_on_seeds() -> None:
    from storyline.steps import quotes

    texts = [t for t, _ in CASES.values()] + [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    for text in texts:
        assert quotes.person_names(text) == _plain_person_names(text)
        segs = quotes._segments(text)
        assert quotes._mask(text, segs) == _plain_mask(text, segs)


def test_quotes_step_rows_match_dict_rows_with_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    from storyline.steps import quotes

    real = quotes.find_quotes

    def flaky(text: str, cfg: QuotesConfig):
        if "boom" in text:
            raise RuntimeError("boom")
        return real(text, cfg)

    monkeypatch.setattr(quotes, "find_quotes", flaky)
    texts = [t for t, _ in CASES.values()] + ["boom “a b c,” he said", ""]
    ids = [f"a{i}" for i in range(len(texts))]
    out = Quotes(QuotesConfig(min_confidence=0.0))(pa.table({"article_id": ids, "text": texts}))
    rows = []
    for a, t in zip(ids, texts):
        if "boom" in t:
            rows.append({"article_id": a, "_reject": "error: RuntimeError"})
            continue
        rows += [{"quote_id": model.stable_id(a, q.start, q.end), "article_id": a, "start": q.start, "end": q.end,
                  "quote": q.quote, "speaker": q.speaker, "speaker_mention": q.speaker_mention,
                  "speaker_start": q.speaker_start, "speaker_end": q.speaker_end, "cue": q.cue,
                  "confidence": q.confidence, "_reject": None}
                 for q in real(t, QuotesConfig(min_confidence=0.0))]
    assert len(rows) > len(texts)
    assert out.equals(pa.Table.from_pylist(rows, schema=with_reject(model.QUOTE)))


_NAME_PIECES = st.sampled_from(
    [" Ann Lee", " Bo Lee", " Lee", " Lee’s", " Lee's", "Mrs. ", "Mr. ", " he", " she", " said", ", ", ". ", "\n",
     ": ", " van Dam", " Dam", " Jo-Lee", "al-Lee", "(", ")", " “", "”", " Tom", " President", " J. Lee", "’Lee", "U.S."]
)


def _plain_segments(text: str) -> list[tuple]:
    """_segments as first written: each paragraph's marks found by its own regex passes."""
    import re

    from storyline.steps import quotes

    out = []
    for para, m in enumerate(re.finditer(r"[^\n]+", text)):
        p0, p1 = m.span()
        doubles = [d.start() for d in re.finditer(f"[{quotes._MARKS}]", text[:p1]) if d.start() >= p0]
        opens = [o.start() for o in re.finditer(r"[‘']", text[:p1]) if o.start() >= p0]
        pairs = quotes._double_segments(text, doubles)
        closed = [(a, b) for a, b in pairs if b is not None]
        pairs += quotes._single_segments(text, p0, p1, closed + [(a, p1) for a, b in pairs if b is None], opens)
        for a, b in sorted(pairs):
            s, e = a + 1, (b if b is not None else p1)
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if s < e:
                out.append((s, e, a, b, para))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES | _RUN_PIECES | _NAME_PIECES, max_size=80).map("".join))
def test_quotes_scans_match_plain_forms(text: str) -> None:
    # One-class-first _SENT_END, string-test _strip_possessive, split-based _split_run, marks found once,
    # surname words by str.find, names read by line or stretch: each the same as its plain form.
    import re

    from storyline.steps import quotes

    plain_end = re.compile(r"[.!?]+[\"”’»)\]]*(?=\s+[\"“‘'«(\[A-Z0-9])|\n")
    for lo, hi in [(0, len(text)), (len(text) // 3, len(text) - 1)]:
        assert [m.span() for m in quotes._SENT_END.finditer(text, lo, hi)] == [
            m.span() for m in plain_end.finditer(text, lo, hi)
        ]
    for tok in text.split() + [text, text + "\n", "’s", "x’’", "a's\n"]:
        assert quotes._strip_possessive(tok) == re.sub(r"[’']s?$", "", tok)
    for m in quotes._NAME_RUN.finditer(text):
        plain = []
        toks: list[str] = []
        for w in re.finditer(r"\S+", m.group()):
            if not toks:
                pos = m.start() + w.start()
            toks.append(w.group())
            if w.group().endswith(".") and not (
                re.fullmatch(r"(?:[A-Z]\.)+", w.group()) or quotes._norm(w.group()).rstrip(".") in quotes._ABBREV
            ):
                plain.append((pos, toks))
                toks = []
        if toks:
            plain.append((pos, toks))
        assert list(quotes._split_run(m.start(), m.group())) == plain
    assert [(g.start, g.end, g.open_at, g.close_at, g.para) for g in quotes._segments(text)] == _plain_segments(text)
    names = quotes.person_names(text)
    surnames = {n.split()[-1]: n for _, _, n in names}
    capwords = [(m.start(), m.end(), m.group(1)) for m in quotes._CAPWORD.finditer(text)]
    assert quotes._surname_words(text, surnames) == [c for c in capwords if any(text.startswith(s, c[0]) for s in surnames)]
    lines = [m.span() for m in re.finditer(r"[^\n]+", text)]
    assert [n for a, b in lines for n in quotes._names_in(text, a, b)] == names


@settings(max_examples=300, deadline=None)
@given(st.lists(_NAME_PIECES | _PIECES, max_size=60).map("".join), st.integers(0, 3))
def test_quotes_people_read_nearby_as_whole_article(text: str, k: int) -> None:
    # _People answers from a few lines or stretches where it can; the answers are those of the
    # whole-article search (full, gender, surnames computed first).
    from storyline.steps import quotes

    def lazy() -> quotes._People:
        return quotes._People(text, quotes._paragraphs(text))

    def whole() -> quotes._People:
        people = lazy()
        people.full, people.gender, people.surnames  # noqa: B018 - computed up front: the article-wide path
        return people

    speakers = [(s, n) for s, _, n in quotes.person_names(text)][k::2]
    for m in quotes._WORD.finditer(text):
        word = m.group()
        assert lazy().has_surname(word) == whole().has_surname(word)
        if word[0].isupper():
            mention = quotes._Mention(m.start(), m.end(), word, "name")
            assert lazy().resolve_name(mention) == whole().resolve_name(mention)
        if word in ("he", "she"):
            mention = quotes._Mention(m.start(), m.end(), word, "pronoun")
            early = [(s, n) for s, n in speakers if s < m.start()]
            assert lazy().resolve_pronoun(mention, early) == whole().resolve_pronoun(mention, early)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_RUN_PIECES | _NAME_PIECES | st.sampled_from(["s", "’s", ",", ";", ":", "Jr.", "Dr."]),
                         min_size=1, max_size=4).map("".join), max_size=6))
def test_quotes_clean_name_matches_plain_form(tokens: list[str]) -> None:
    # _clean_name_cached skips the possessive and punctuation strip for words that end in a letter.
    import re

    from storyline.steps import quotes

    toks = [re.sub(r"[’']s?$", "", t).rstrip(",;:") for t in tokens]
    toks = [t for t in toks if t]
    norms = [quotes._norm(t) for t in toks]
    first = 0
    while first < len(toks) and (norms[first] in quotes._LEAD or norms[first] in quotes._HONORIFICS):
        first += 1
    for k in range(first, len(toks)):
        if norms[k] in quotes._TITLES or norms[k].rstrip(".") in quotes._HONORIFICS:
            first = k + 1
    toks = toks[first:]
    while toks and toks[-1].endswith(".") and len(toks[-1]) > 2 and quotes._norm(toks[-1]) not in {"jr.", "sr."}:
        toks[-1] = toks[-1].rstrip(".")
    assert quotes._clean_name_cached.__wrapped__(tuple(tokens)) == tuple(toks)


# Letters, digits (an Arabic-Indic one too), é (a word character that starts no word), marks and punctuation.
_SCAN_CHARS = st.text(st.sampled_from(list("aZb9٣é_.,-'’“” \n(")), max_size=60)


@given(_SCAN_CHARS, st.integers(0, 60), st.integers(0, 60))
@settings(max_examples=400, deadline=None)
def test_quotes_scans_match_their_regexes(text: str, lo: int, hi: int) -> None:
    import re

    from storyline.steps import quotes as q

    words = [(m.start(), m.end(), m.group()) for m in q._WORD.finditer(text, lo, hi)]
    assert q._tokens(text, lo, hi) == words
    assert q._mark_offsets(text) == [m.start() for m in re.finditer("[\"“”„«»‘']", text)]

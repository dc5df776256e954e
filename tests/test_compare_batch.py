"""Compare's batched passes give what the per-story, per-piece rules say."""

from __future__ import annotations

import pyarrow as pa
import pytest

from storyline import model
from storyline.steps import compare
from storyline.steps.compare import Compare, analyze_story, merge_spans, uncovered
from storyline.textutil import paragraphs, tokenize


def _reference_uncovered(text, covered, min_words=compare.MIN_UNIQUE_WORDS):
    """The rule spelled out piece by piece: paragraphs cut by the merged covered spans, each piece
    stripped of spaces and punctuation at its start and whitespace at its end, kept with enough words."""
    out = []
    merged = merge_spans(covered)
    for ps, pe in paragraphs(text):
        cuts, cur = [], ps
        for cs, ce in merged:
            if ce <= cur or cs >= pe:
                continue
            cuts.append((cur, cs))
            cur = max(cur, ce)
        cuts.append((cur, pe))
        for s, e in cuts:
            piece = text[s:e] if e > s else ""
            s, e = s + len(piece) - len(piece.lstrip(" ,.;:—–-\"'”’")), e - (len(piece) - len(piece.rstrip()))
            if e > s and len(tokenize(text[s:e])) >= min_words:
                out.append((s, e))
    return out


TEXTS = [
    "First paragraph has five words.\n\n  \t Second one, indented, has more words here.\r\n",
    "— “Dashes and quotes lead this one in,” she said.\n\u2028\u00a0 Odd spaces wrap\u00a0this line too \u2029\n",
    "Short.\nTwo words\n" + "x" * 80 + " then three words\n" + "y" * 80 + " two only\n",
    "Emoji 😀 in a line of several words.\n\n\n... : ; leading punctuation then four words",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("covered", [[], [(3, 12)], [(0, 5), (4, 30), (40, 41)], [(10, 10_000)], [(500, 600)]])
def test_uncovered_follows_the_piece_rule(text, covered):
    assert uncovered(text, covered) == _reference_uncovered(text, covered)


def test_uncovered_counts_words_past_the_head():
    # Long pieces with few words in their first characters are counted in full.
    text = "x" * (compare.HEAD + 20) + " then three words\n" + "y" * (compare.HEAD + 20) + " two only"
    assert [text[s:e] for s, e in uncovered(text, [])] == ["x" * (compare.HEAD + 20) + " then three words"]


def test_uncovered_many_keeps_each_texts_spans_to_itself():
    # A span running past the end of one text must not cover the start of the next.
    covered = [[(0, 10_000)], [], [(5, 15)], [(200, 300)]]
    texts = TEXTS[:4]
    assert compare._uncovered_many(texts, covered) == [_reference_uncovered(t, c) for t, c in zip(texts, covered)]


def _fig(fid, aid, text, value, unit):
    at = text.index(f"{value:,.0f}")
    return {"figure_id": fid, "article_id": aid, "start": at, "end": at + 6, "value": value, "unit": unit,
            "surface": None, "context": text}


def test_figures_of_one_value_join_across_units_only_in_a_like_sentence():
    t1 = "Officials said 40,000 foreigners joined the militia during the war."
    t2 = "Officials said 40,000 foreign fighters joined the militia during the war."
    t3 = "A stadium with 40,000 seats opened in the capital on Sunday."
    arts = [{"article_id": a, "outlet": a, "text": t} for a, t in (("a", t1), ("b", t2), ("c", t3))]
    figs = [_fig("f1", "a", t1, 40000.0, "foreigners"), _fig("f2", "b", t2, 40000.0, "fighters"),
            _fig("f3", "c", t3, 40000.0, "seats")]
    rows = [r for r in analyze_story("s", arts, [], figs) if r["kind"] == "figure"]
    facts = {}
    for r in rows:
        facts.setdefault(r["fact_id"], []).append(r["article_id"])
    assert sorted(facts.values()) == [["a", "b"], ["c"]]
    assert {r["label"] for r in rows} == {"40,000 foreigners", "40,000 seats"}  # named by the first figure


def test_quotes_of_one_article_stay_apart():
    text = "“We stay,” she said. Later: “We stay,” she said again to the crowd."
    quotes = [{"article_id": "a", "start": 1, "end": 8, "quote": "We stay", "speaker": None},
              {"article_id": "a", "start": 29, "end": 36, "quote": "We stay", "speaker": None}]
    rows = analyze_story("s", [{"article_id": "a", "outlet": "o", "text": text}], [], [], quotes)
    assert len({r["fact_id"] for r in rows if r["kind"] == "quote"}) == 2


def test_compare_step_is_analyze_story_per_story():
    """A group of stories gives each story's own rows: figures conflict only within a story."""
    t1 = "The agency said that 15,000 extremists are still fighting in the two countries."
    t2 = "The agency said that 25,000 extremists are still fighting in the two countries."
    arts = [{"article_id": "a1", "outlet": "one", "text": t1 + "\n\nOwn closing words of the first outlet."},
            {"article_id": "a2", "outlet": "two", "text": t2},
            {"article_id": "b1", "outlet": "three", "text": t2}]
    figs = [_fig("f1", "a1", t1, 15000.0, "extremists"), _fig("f2", "a2", t2, 25000.0, "extremists"),
            _fig("f3", "b1", t2, 25000.0, "extremists")]  # would conflict with f1
    quotes = [{"article_id": "a2", "start": 0, "end": 10, "quote": "The agency said that", "speaker": None}]
    stories = {"s1": ["a1", "a2"], "s2": ["b1"]}
    members = pa.table({"story_id": [s for s, ids in stories.items() for _ in ids],
                        "article_id": [a for ids in stories.values() for a in ids]})
    fig_table = pa.Table.from_pylist(figs, schema=model.FIGURE)
    quote_table = pa.Table.from_pylist(quotes, schema=model.QUOTE)
    got = Compare()(members, pa.Table.from_pylist(arts), model.ALIGNMENT.empty_table(), fig_table, quote_table)
    want = [r for sid, ids in sorted(stories.items())
            for r in analyze_story(sid, [a for a in arts if a["article_id"] in ids], [],
                                   [f for f in figs if f["article_id"] in ids],
                                   [q for q in quotes if q["article_id"] in ids])]
    assert got.to_pylist() == want
    status = {r["article_id"]: r["status"] for r in want if r["kind"] == "figure"}
    assert status == {"a1": "conflict", "a2": "conflict", "b1": "only_here"}


def test_compare_conflicts_of_a_sentence_repeated_thousands_of_times_stay_small():
    # An article that repeats one sentence (a page stuck in a loop) must not square its figures:
    # the product runs over distinct sentences, so memory stays flat while every copy is flagged.
    import tracemalloc

    said = "Officials said 4,000 people were evacuated from the valley"
    other = "Officials said 5,000 people were evacuated from the valley"
    figures = [("s1", {"figure_id": f"a{i}", "article_id": "a", "value": 4000.0, "unit": "people",
                       "context": said}) for i in range(3000)]
    figures += [("s1", {"figure_id": "b0", "article_id": "b", "value": 5000.0, "unit": "people", "context": other}),
                ("s1", {"figure_id": "c0", "article_id": "c", "value": 4000.0, "unit": "people", "context": said}),
                ("s2", {"figure_id": "d0", "article_id": "d", "value": 7.0, "unit": "people", "context": other})]
    contexts = {c: compare._content_words(c) for c in (said, other)}
    outlet = {"a": "one.example", "b": "two.example", "c": "three.example", "d": "two.example"}
    tracemalloc.start()
    try:
        got = compare._conflicts(figures, contexts, outlet)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Every 4,000 conflicts with b's 5,000 (another outlet, same sentence otherwise); d is another story.
    assert got == {f"a{i}" for i in range(3000)} | {"b0", "c0"}
    assert peak < 20 * 2**20, peak  # a 3,003-square product alone would take ~70 MB

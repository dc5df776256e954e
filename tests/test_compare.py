from __future__ import annotations

import pytest

from storyline.steps.compare import analyze_story, lineage, merge_spans, passage_groups, uncovered


def test_compare_merge_spans():
    assert merge_spans([(5, 9), (0, 3), (2, 4), (9, 10)]) == [(0, 4), (5, 10)]


def test_compare_uncovered_keeps_paragraph_pieces_outside_spans():
    text = "First paragraph has five words.\n\nSecond one is shared entirely here.\n\nThird with own words too."
    s = text.index("Second")
    e = text.index("here.") + 5
    pieces = [text[a:b] for a, b in uncovered(text, [(s, e)])]
    assert pieces == ["First paragraph has five words.", "Third with own words too."]


def test_compare_passage_groups_merge_across_articles():
    als = [
        {"a_id": "x", "a_start": 0, "a_end": 50, "b_id": "y", "b_start": 10, "b_end": 60},
        {"a_id": "y", "a_start": 20, "a_end": 55, "b_id": "z", "b_start": 0, "b_end": 35},
    ]
    groups = passage_groups(als)
    assert groups == [{"x": (0, 50), "y": (10, 60), "z": (0, 35)}]


def test_compare_figures_reprinted_count_one_origin_independent_count_two():
    wire = "Officials said 40,000 fighters joined the group over three years of war in the region."
    own = "Our reporter confirmed that 40,000 fighters joined, according to local intelligence sources today."
    arts = [{"article_id": "a", "outlet": "wire", "text": wire},
            {"article_id": "b", "outlet": "blog", "text": wire},
            {"article_id": "c", "outlet": "local", "text": own}]
    als = [{"a_id": "a", "a_start": 0, "a_end": len(wire), "b_id": "b", "b_start": 0, "b_end": len(wire)}]
    figs = [{"figure_id": f"f{i}", "article_id": aid, "start": t.index("40,000"), "end": t.index("40,000") + 6,
             "value": 40000.0, "unit": "fighters", "context": t} for i, (aid, t) in enumerate(
        [("a", wire), ("b", wire), ("c", own)])]
    rows = analyze_story("s", arts, als, figs)
    fig = [r for r in rows if r["kind"] == "figure"]
    assert {r["origins"] for r in fig} == {2} and {r["outlets"] for r in fig} == {3}
    unique = [r for r in rows if r["kind"] == "unique"]
    assert [r["article_id"] for r in unique] == ["c"]


def test_compare_conflicting_figures_flagged():
    t1 = "The agency said that 15,000 extremists are still fighting in the two countries."
    t2 = "The agency said that 25,000 extremists are still fighting in the two countries."
    arts = [{"article_id": "a", "outlet": "one", "text": t1}, {"article_id": "b", "outlet": "two", "text": t2}]
    figs = [{"figure_id": "f1", "article_id": "a", "start": 21, "end": 27, "value": 15000.0, "unit": "extremists",
             "context": t1},
            {"figure_id": "f2", "article_id": "b", "start": 21, "end": 27, "value": 25000.0, "unit": "extremists",
             "context": t2}]
    rows = analyze_story("s", arts, [], figs)
    assert {r["status"] for r in rows if r["kind"] == "figure"} == {"conflict"}


def test_compare_quotes_shared_via_reuse_are_one_origin_own_quotes_separate():
    wire = "“We will rebuild the bridge within a year,” said Mayor Ana Ruiz on Monday in the city."
    copy = "Local intro here. " + wire + " “Our own interview quote is here today,” Ruiz told us."
    arts = [{"article_id": "a", "outlet": "wire", "text": wire}, {"article_id": "b", "outlet": "blog", "text": copy}]
    off = len("Local intro here. ")
    als = [{"a_id": "a", "a_start": 0, "a_end": len(wire), "b_id": "b", "b_start": off, "b_end": off + len(wire)}]
    q = "We will rebuild the bridge within a year,"
    quotes = [{"article_id": "a", "start": 1, "end": 1 + len(q), "quote": q, "speaker": "Ana Ruiz"},
              {"article_id": "b", "start": off + 1, "end": off + 1 + len(q), "quote": q, "speaker": "Ana Ruiz"},
              {"article_id": "b", "start": copy.index("Our"), "end": copy.index("Our") + 36,
               "quote": "Our own interview quote is here today", "speaker": "Ana Ruiz"}]
    rows = [r for r in analyze_story("s", arts, als, [], quotes) if r["kind"] == "quote"]
    shared = [r for r in rows if r["status"] == "shared"]
    own = [r for r in rows if r["status"] == "only_here"]
    assert len(shared) == 2 and {r["origins"] for r in shared} == {1} and {r["detail"] for r in shared} == {"verbatim"}
    assert len(own) == 1 and own[0]["article_id"] == "b"


@pytest.mark.parametrize("a,b,want", [
    ("We will win this fight.", "We will win this fight.", "verbatim"),
    ("We will win this fight, and soon.", "We will win this fight", "trimmed"),
    ("We will surely win this fight, and soon.", "We will win this fight, and quickly.", "altered"),
])
def test_compare_quote_lineage(a, b, want):
    assert lineage(a, b) == want


@pytest.mark.parametrize("workers", [1, 2])
def test_story_groups_give_the_facts_and_docs_of_one_gather(tmp_path, monkeypatch, workers):
    """The pipeline compares and documents bounded groups of whole stories (on a pool with workers);
    any group size gives the same facts and story documents."""
    from pathlib import Path

    import storyline
    from storyline import pipeline

    corpus = Path(__file__).resolve().parents[1] / "examples" / "corpus"
    whole = storyline.run([str(corpus)], out=tmp_path / "whole")
    calls = []
    real = pipeline.story_groups
    monkeypatch.setattr(pipeline, "STORY_GROUP_ARTICLES", 1)  # one story per group
    monkeypatch.setattr(pipeline, "story_groups", lambda *a, **k: calls.append(1) or real(*a, **k))
    grouped = storyline.run([str(corpus)], out=tmp_path / "grouped", workers=workers)
    assert len(calls) == 1  # facts and docs share one grouping and one read
    n_stories = whole.table("stories").num_rows
    assert len(real(grouped.store, grouped.store.read("stories"))) == n_stories > 1

    def by_story(t):
        return t.sort_by([("story_id", "ascending")] + [(c, "ascending") for c in ("article_id", "fact_id")
                                                        if c in t.column_names])

    for name in ("facts",):
        assert whole.table(name).num_rows > 0
        assert by_story(grouped.table(name)).equals(by_story(whole.table(name)))
    assert grouped.stories() == whole.stories()


def test_store_read_where_reads_only_matching_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.compute as pc

    from storyline.store import Store

    store = Store(tmp_path / "s")
    store.append("t", pa.table({"k": ["a", "b"], "v": [1, 2]}), "x")
    store.append("t", pa.table({"k": ["c", "a"], "v": [3, 4]}), "x")
    got = store.read("t", where=pc.field("k").isin(pa.array(["a"])))
    assert sorted(got["v"].to_pylist()) == [1, 4]

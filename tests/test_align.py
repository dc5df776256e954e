from __future__ import annotations

import json

import pyarrow as pa
import pytest

from storyline.config import AlignConfig
from storyline.steps.align import (
    Align,
    Direction,
    ReuseClusters,
    align,
    direction,
    pair_passages,
    reuse_clusters,
    seed_index,
    seed_matches,
)
from storyline.steps.edits import oriented_edits

WIRE = (
    "The U.S. weather service judges that large numbers of coastal towns will face flooding this winter "
    "and must defend what is left of their harbours rather than wait for spring, a senior forecaster said on Friday. "
    "Forecasters said the assessment contrasts with earlier warnings about a mild season along the coastlines."
)


def test_align_tolerates_small_edits():
    edited = WIRE.replace("U.S.", "US").replace("large numbers", "a large number").replace("senior ", "")
    ps = align("Intro by the outlet itself. " + edited, WIRE)
    assert len(ps) == 1
    p = ps[0]
    assert p.matched_words >= 35 and p.score > 0.8
    assert ("a large number", "large numbers") in p.edits or any("number" in a for a, _ in p.edits)


def test_align_offsets_point_at_the_passage():
    a = "Completely different opening sentence written by the copier. " + WIRE
    p = align(a, WIRE)[0]
    assert a[p.a_start:p.a_end].startswith("The U.S. weather") and a[p.a_end - 1] in "sd."
    assert p.b_start == 0


@pytest.mark.parametrize("other", ["", "short", "Nothing in common with the wire text at all, not a single run."])
def test_align_unrelated_gives_nothing(other):
    assert align(other, WIRE) == []


def test_align_finds_several_passages_in_order():
    second = ("Councils have been bracing for new storms as the tides rise month after month, "
              "and sea walls have been raised significantly in the region this year.")
    a = WIRE + " Our own reporting sits in between these passages and is long enough to split them apart. " + second
    b = second + " Unrelated middle text from another outlet that it wrote by itself entirely. " + WIRE
    ps = align(a, b, AlignConfig(min_passage_words=10))
    assert len(ps) == 2 and ps[0].a_start < ps[1].a_start


def test_align_step_rows_json_edits():
    t = pa.table({"a_id": ["x"], "a_text": [WIRE.replace("U.S.", "American")], "b_id": ["y"], "b_text": [WIRE]})
    out = Align()(t)
    assert out.num_rows == 1 and isinstance(json.loads(out["edits"][0].as_py()), list)


def test_align_direction_prefers_dates_then_credit():
    a = {"article_id": "a", "text": "x", "published": "2017-07-21"}
    b = {"article_id": "b", "text": "x", "published": "2017-07-22"}
    assert direction(a, b, 30) == ("a", "b", "date")
    a2 = {"article_id": "a", "text": "WASHINGTON (Reuters) - text", "published": None}
    b2 = {"article_id": "b", "text": "text", "published": None}
    assert direction(b2, a2, 30) == ("a", "b", "credit")


@pytest.mark.parametrize("old,new", [("U.S.", "US"), ("large numbers of", "many")])
def test_align_lists_copier_edits(old, new):
    ps = align(WIRE.replace(old, new), WIRE)
    assert len(ps) == 1
    if old == "U.S.":
        assert ps[0].edits == ()  # folded by the tokenizer: not an edit
    else:
        assert ("many", "large numbers of") in ps[0].edits


def test_align_alias_variants_align_and_are_listed():
    a = WIRE + " Fighters of the Islamic State group left the city, officials said on Saturday evening."
    b = WIRE + " Fighters of the ISIL group left the city, officials said on Saturday evening."
    ps = align(a, b)
    assert len(ps) == 1 and ("islamic state", "isil") in ps[0].edits


def test_align_extends_past_edits_every_few_words():
    # Runs shorter than a seed ("he is becoming", "best recruiter") beside the passage count too.
    a = ("Intro of our own here. He is becoming ISIS's best recruiter, she said. They are going to people, "
         "showing videos of Donald Trump insulting Islam and Muslims in order to recruit more radical jihadists.")
    b = ("Another intro entirely. He is becoming ISIS' best recruiter. They are going to people, "
         "showing videos of Donald Trump insulting Islam and Muslims in order to recruit more radical jihadists.")
    (p,) = align(a, b)
    assert p.matched_words == 26 and a[p.a_start:].startswith("He is becoming")
    assert ("isiss", "isis") in p.edits and ("she said", "") in p.edits


def test_align_repeated_phrase_gives_one_monotone_passage():
    a = WIRE + " If she gets to pick her judges, nothing you can do, folks, he said at the rally on Tuesday."
    b = WIRE + " If she gets to pick, if she gets to pick her judges, nothing you can do, folks, he said at the rally on Tuesday."
    (p,) = align(a, b)
    assert ("", "if she gets to pick") in p.edits and p.matched_words == len(a.split())


def test_align_seed_index_matches_pairwise_seeds():
    from storyline.textutil import tokenize
    ha, hb = tokenize(WIRE).hashes, tokenize("x " + WIRE + " " + WIRE).hashes
    i, j = seed_matches(ha, hb, 5)
    assert i.size == 2 * (ha.size - 4) and (hb[j] == ha[i]).all() and seed_index(ha, 5)[0].size == ha.size - 4


def test_align_reuse_clusters_merge_overlapping_spans():
    t = pa.table({"a_id": ["x", "y", "q", "x"], "a_start": [0, 5, 0, 500], "a_end": [100, 90, 50, 600],
                  "b_id": ["y", "z", "r", "w"], "b_start": [0, 0, 10, 0], "b_end": [95, 80, 60, 100]})
    out = reuse_clusters(t)
    groups = {}
    for c, a in zip(out["cluster_id"].to_pylist(), out["article_id"].to_pylist()):
        groups.setdefault(c, set()).add(a)
    assert sorted(map(sorted, groups.values())) == [["q", "r"], ["w", "x"], ["x", "y", "z"]]
    assert reuse_clusters(t.slice(0, 0)).num_rows == 0


def test_align_oriented_edits_are_source_then_copy():
    assert oriented_edits([["many", "large numbers of"]], a_id="a", source_id="b") == [("large numbers of", "many")]
    assert oriented_edits('[["x", "y"]]', a_id="a", source_id="a") == [("x", "y")]


# An invented wire story in two paragraphs and a reprint that swaps them and edits each: the
# edge must list the reprint's edits as wire -> reprint, in the wire's order, whichever side is ``a``.
P1 = ("The United States will send 150 engineers to rebuild the Harwick bridge within weeks, the senior official "
      "said on Monday, adding that large numbers of local workers would be hired for the long project.")
P2 = ("The U.S. team is expected to stay for two years and will be paid from a regional reconstruction fund, "
      "the official told reporters at the ministry after a closed meeting with the provincial governor.")
HARWICK = P1 + "\n\n" + P2


def _reprint(t: str) -> str:
    for old, new in (("The United States", "The US"), ("the senior official", "the official"),
                     ("large numbers of", "many"), ("The U.S. team", "The US team"), ("closed", "private")):
        t = t.replace(old, new)
    return t


REPRINT = "Harwick Gazette staff report from the river town.\n\n" + _reprint(P2) + "\n\n" + _reprint(P1)
HARWICK_EDITS = [("united states", "us"), ("senior", ""), ("large numbers of", "many"), ("closed", "private")]


def _edge(a: tuple[str, str, str | None], b: tuple[str, str, str | None], cfg: AlignConfig | None = None) -> dict:
    """The Direction row of pair (a, b), each ``(id, text, published)``, through Align and pair_passages."""
    pair = pa.table({"a_id": [a[0]], "a_text": [a[1]], "b_id": [b[0]], "b_text": [b[1]]})
    view = pair_passages(Align(cfg or AlignConfig())(pair).drop_columns(["_reject"]))
    view = view.append_column("a_text", pa.array([a[1]])).append_column("b_text", pa.array([b[1]]))
    view = view.append_column("a_published", pa.array([a[2]], pa.string()))
    view = view.append_column("b_published", pa.array([b[2]], pa.string()))
    (edge,) = Direction()(view).to_pylist()
    return edge


@pytest.mark.parametrize("wire_is_a", [True, False])
def test_align_edge_edits_read_source_to_copy_in_source_order(wire_is_a):
    wire, copy = ("w", HARWICK, "2025-05-01"), ("r", REPRINT, "2025-05-02")
    edge = _edge(*((wire, copy) if wire_is_a else (copy, wire)))
    assert (edge["source_id"], edge["copy_id"], edge["reason"]) == ("w", "r", "date")
    # "U.S." -> "US" differs only in dots, which the tokenizer folds: not an edit.
    assert [(e["source_words"], e["copy_words"]) for e in edge["edits"]] == HARWICK_EDITS


def test_align_undecided_edge_reads_from_the_smaller_id():
    # Same day, no credit, same length: undecided, so the edits read from the smaller id ("m" -> "n").
    same = "Morning Courier wire desk copy for the valley.\n\n" + HARWICK
    edge = _edge(("n", REPRINT, None), ("m", same, None))
    assert (edge["source_id"], edge["copy_id"], edge["reason"]) == ("m", "n", "undecided")
    assert [(e["source_words"], e["copy_words"]) for e in edge["edits"]] == HARWICK_EDITS


def test_align_pair_passages_sum_words_and_keep_passages_per_pair():
    t = Align()(pa.table({"a_id": ["w", "w"], "a_text": [HARWICK, HARWICK], "b_id": ["r", "x"],
                          "b_text": [REPRINT, "Nothing shared here at all."]})).drop_columns(["_reject"])
    (row,) = pair_passages(t).to_pylist()
    assert row["shared_words"] == sum(t["words"].to_pylist()) and len(row["passage_edits"]) == 2
    assert [p["a_start"] for p in row["passage_edits"]] == sorted(t["a_start"].to_pylist())


def test_align_timeout_rejects_each_pair_instead_of_passages():
    pairs = pa.table({"a_id": ["w", "w"], "a_text": [HARWICK, HARWICK], "b_id": ["r", "s"],
                      "b_text": [REPRINT, REPRINT.upper()]})
    out = Align(AlignConfig(timeout_s=1e-6))(pairs)  # every pair outlasts a microsecond
    assert out["_reject"].null_count == 0 and all(r.startswith("timeout:") for r in out["_reject"].to_pylist())
    assert out.select(["a_id", "b_id"]).to_pylist() == [{"a_id": "w", "b_id": "r"}, {"a_id": "w", "b_id": "s"}]
    assert out["words"].null_count == 2
    ok = Align(AlignConfig(timeout_s=0))(pairs)  # no limit: both pairs align, nothing rejected
    assert ok.num_rows == 4 and ok["_reject"].null_count == 4


def test_align_config_limits_are_checked():
    from storyline.errors import ConfigError

    for bad in ({"extend_min_run": 0}, {"cluster_overlap": 0.0}, {"cluster_overlap": 1.5}, {"timeout_s": -1}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            AlignConfig(**bad)


def test_align_extend_min_run_is_the_config_value():
    # The 3-word run "he is becoming" extends the passage at the default (2), not when 4 are required.
    a = ("Intro of our own here. He is becoming ISIS's best recruiter, she said. They are going to people, "
         "showing videos of Donald Trump insulting Islam and Muslims in order to recruit more radical jihadists.")
    b = ("Another intro entirely. He is becoming ISIS' best recruiter. They are going to people, "
         "showing videos of Donald Trump insulting Islam and Muslims in order to recruit more radical jihadists.")
    (p,) = align(a, b)
    (q,) = align(a, b, AlignConfig(extend_min_run=4))
    assert a[p.a_start:].startswith("He is becoming") and q.matched_words < p.matched_words
    assert not a[q.a_start:].startswith("He is becoming")


def test_align_reuse_cluster_step_uses_cluster_overlap():
    # Two spans of y overlap by 60% of the shorter: one text at 0.5, two at 0.9.
    t = pa.table({"a_id": ["x", "y"], "a_start": [0, 40], "a_end": [100, 140], "b_id": ["y", "z"],
                  "b_start": [0, 0], "b_end": [100, 100]})
    assert len(set(ReuseClusters()(t)["cluster_id"].to_pylist())) == 1
    assert len(set(ReuseClusters(AlignConfig(cluster_overlap=0.9))(t)["cluster_id"].to_pylist())) == 2

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from storyline.config import AlignConfig
from storyline.steps.align import Align, align, direction, oriented_edits, reuse_clusters, seed_index, seed_matches

WIRE = (
    "The U.S. intelligence community judges that large numbers of foreign fighters will stay to defend "
    "what is left of their territory rather than return home, a senior official said on Friday. "
    "Officials said the assessment contrasts with earlier warnings about a massive outflow of fighters."
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
    assert a[p.a_start:p.a_end].startswith("The U.S. intelligence") and a[p.a_end - 1] in "sd."
    assert p.b_start == 0


@pytest.mark.parametrize("other", ["", "short", "Nothing in common with the wire text at all, not a single run."])
def test_align_unrelated_gives_nothing(other):
    assert align(other, WIRE) == []


def test_align_finds_several_passages_in_order():
    second = ("Governments have been bracing for new strikes as the group loses ground, "
              "and borders have been tightened significantly in the region this year.")
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

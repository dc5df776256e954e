from __future__ import annotations

import json

import pyarrow as pa
import pytest

from storyline.config import AlignConfig
from storyline.steps.align import Align, align, direction

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

from __future__ import annotations

import pyarrow as pa
import pytest

from storyline import corrections, model
from storyline.errors import InputError


def _members(groups: dict[str, list[str]]) -> pa.Table:
    rows = [{"story_id": s, "article_id": a, "role": "independent", "score": 1.0} for s, ids in groups.items() for a in ids]
    return pa.Table.from_pylist(rows, schema=model.STORY_MEMBER)


ORDER = {a: (i, "", a) for i, a in enumerate("abcdef")}


def _apply(groups, fixes):
    out = corrections.apply(_members(groups).to_pylist(), fixes, ORDER)
    return {m["article_id"]: m["story_id"] for m in out}


def test_corrections_merge_keeps_earliest_story_id():
    fixes = corrections.merge(_members({"S1": ["a", "b"], "S2": ["c"]}), ["S2", "S1"], created="t")
    assert set(fixes["side"].to_pylist()) == {"member"} and fixes["seq"].to_pylist() == [1, 1, 1]
    assert set(_apply({"S1": ["a", "b"], "S2": ["c"]}, fixes).values()) == {"S1"}


def test_corrections_split_moves_articles_to_new_story():
    groups = {"S1": ["a", "b", "c"]}
    fixes = corrections.split(_members(groups), ["b", "c"], created="t")
    got = _apply(groups, fixes)
    assert got["a"] == "S1" and got["b"] == got["c"] == model.stable_id("story", "b")


def test_corrections_split_of_first_article_gets_fresh_id():
    sid = model.stable_id("story", "a")
    groups = {sid: ["a", "b"]}
    got = _apply(groups, corrections.split(_members(groups), ["a"], created="t"))
    assert got["b"] == sid and got["a"] not in (sid,)


def test_corrections_apply_is_idempotent_and_keeps_new_joiners():
    groups = {"S1": ["a", "b", "c"]}
    fixes = corrections.split(_members(groups), ["c"], created="t")
    once = _apply(groups, fixes)
    # A new article d later joined the split-off story: re-applying must not pull c away from it.
    regrouped: dict[str, list[str]] = {}
    for a, s in {**once, "d": once["c"]}.items():
        regrouped.setdefault(s, []).append(a)
    twice = _apply(regrouped, fixes)
    assert twice["c"] == twice["d"] == once["c"] and twice["a"] == "S1"


def test_corrections_later_wins():
    groups = {"S1": ["a", "b"], "S2": ["c"]}
    split = corrections.split(_members(groups), ["b"], created="t")
    merge = corrections.merge(_members(groups), ["S1", "S2"], split, created="t")
    got = _apply(groups, pa.concat_tables([split, merge]))
    assert merge["seq"].to_pylist()[0] == 2 and len(set(got.values())) == 1


@pytest.mark.parametrize("call,args,match", [
    (corrections.merge, (["S1"],), "at least two"),
    (corrections.merge, (["S1", "nope"],), "unknown story"),
    (corrections.split, (["zz"],), "unknown article"),
    (corrections.split, (["a", "c"],), "one story at a time"),
    (corrections.split, (["a", "b"],), "whole story"),
])
def test_corrections_bad_input_says_why(call, args, match):
    with pytest.raises(InputError, match=match):
        call(_members({"S1": ["a", "b"], "S2": ["c"]}), *args)

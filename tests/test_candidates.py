from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from storyline import model
from storyline.config import CandidatesConfig
from storyline.engines.local import LocalEngine
from storyline.steps.candidates import Candidates, CountPairs, bucket_pairs, key_pairs
from storyline.steps.fingerprint import Fingerprint
from tests.conftest import make_articles


def _keys(rows):
    return pa.Table.from_pylist([{"article_id": a, "kind": k, "band_key": key} for a, k, key in rows],
                                schema=model.BAND_KEY)


def test_candidates_bucket_cap_skips_common_keys():
    assert bucket_pairs(["b", "a", "a"], 10) == [("a", "b")]
    assert bucket_pairs([str(i) for i in range(11)], 10) == []


def test_candidates_counts_shared_keys_per_pair():
    keys = _keys([("a", "gram", 1), ("b", "gram", 1), ("a", "gram", 2), ("b", "gram", 2), ("c", "gram", 2),
                  ("a", "band", 3), ("c", "band", 3)])
    eng = LocalEngine()
    pairs = eng.group(CountPairs(CandidatesConfig(min_shared_grams=2)), eng.group(Candidates(), keys))
    got = {(a, b): (n, v) for a, b, n, v in zip(*(pairs[c].to_pylist() for c in pairs.column_names))}
    assert got == {("a", "b"): (2, "gram"), ("a", "c"): (1, "band")}


def test_candidates_finds_partial_reprint_from_fingerprints():
    wire = " ".join(f"w{i}" for i in range(120))
    arts = make_articles(
        "Local intro words here. " * 5 + " ".join(wire.split()[30:70]) + " closing own reporting text" * 5,
        wire,
        " ".join(f"unrelated{i}" for i in range(150)),
    )
    eng = LocalEngine()
    keys = eng.map(Fingerprint(), arts)
    pairs = eng.group(CountPairs(), eng.group(Candidates(), keys))
    assert list(zip(pairs["a_id"].to_pylist(), pairs["b_id"].to_pylist())) == [("a0", "a1")]


@pytest.mark.parametrize("size,cap,expected", [(2, 50, 1), (5, 50, 10), (51, 50, 0), (1, 50, 0)])
def test_candidates_key_pairs_one_pair_per_shared_key(size, cap, expected):
    keys = np.full(size, 7, dtype=np.uint64)
    docs = np.arange(size)[::-1].copy()
    a, b = key_pairs(keys, docs, cap)
    assert a.size == expected and (a < b).all()


def test_candidates_key_pairs_ignore_repeated_key_in_one_doc():
    a, b = key_pairs(np.array([1, 1, 1], dtype=np.uint64), np.array([0, 0, 1]), 50)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1)]


def test_shared_rows_keeps_exactly_the_keys_held_twice():
    import pyarrow as pa

    from storyline import model
    from storyline.steps.candidates import shared_rows

    keys = pa.table({"article_id": ["a", "b", "c", "a", "d"], "kind": ["gram"] * 5,
                     "band_key": pa.array([7, 9, 7, 5, 11], pa.uint64())}, schema=model.BAND_KEY)
    assert shared_rows(keys)["article_id"].to_pylist() == ["a", "c"]
    assert shared_rows(keys.slice(0, 0)).num_rows == 0


def test_sum_keys_summed_in_parts_equals_summed_at_once():
    from storyline.steps.candidates import sum_keys

    rows = pa.table({"a_id": ["a", "a", "a", "b", "a"], "b_id": ["b", "b", "c", "c", "b"],
                     "shared_keys": [1, 1, 1, 1, 2], "via": ["gram", "gram", "band", "gram", "band"]},
                    schema=model.CANDIDATE_PAIR)
    twice = sum_keys(pa.concat_tables([sum_keys(rows.slice(0, 2)), sum_keys(rows.slice(2))]))
    key = [("a_id", "ascending"), ("b_id", "ascending"), ("via", "ascending")]
    assert twice.sort_by(key).equals(sum_keys(rows).sort_by(key))
    assert sum_keys(rows).sort_by(key).to_pylist()[0] == {"a_id": "a", "b_id": "b", "shared_keys": 2, "via": "band"}


def test_pairs_stage_same_pairs_for_any_number_of_key_buckets(tmp_path):
    from storyline import pipeline
    from storyline.config import PipelineConfig
    from storyline.store import Store

    wire = " ".join(f"w{i}" for i in range(200))
    arts = make_articles(wire, "Intro words. " * 4 + wire, " ".join(wire.split()[40:160]),
                         " ".join(f"other{i}" for i in range(150)), wire + " tail words " * 8)
    keys = LocalEngine().map(Fingerprint(), arts)
    tables = {}
    for rows in (10**9, 40, 7):  # one bucket (no spill), a few, many
        store = Store(tmp_path / f"s{rows}")
        store.append("keys", keys.slice(0, 300), "c")
        store.append("keys", keys.slice(300), "c")
        pipeline._pairs_stage(store, PipelineConfig(), LocalEngine(), bucket_rows=rows)
        tables[rows] = store.read("pairs")
    assert tables[10**9].num_rows >= 6
    assert tables[40].equals(tables[10**9]) and tables[7].equals(tables[10**9])


@pytest.mark.parametrize("rows", [1, 7, 50])
def test_candidates_count_pairs_in_parts_equals_one_pass(rows):
    # The pipeline sums candidate rows per pair in parts of whole a_id groups (bounded memory at
    # 1M articles); sorted by pair, the parts' output must be exactly the single pass's.
    from storyline.pipeline import _count_pairs

    rng = np.random.default_rng(3)
    n = 400
    a = rng.integers(0, 25, n)
    b = a + 1 + rng.integers(0, 6, n)
    counted = pa.table({"a_id": [f"art{x:03d}" for x in a], "b_id": [f"art{x:03d}" for x in b],
                        "shared_keys": rng.integers(1, 5, n).astype(np.int64),
                        "via": rng.choice(["band", "gram"], n).tolist()}, schema=model.CANDIDATE_PAIR)
    step = CountPairs(CandidatesConfig(min_shared_grams=4))
    engine = LocalEngine()
    whole = engine.group(step, counted)
    parts = _count_pairs(engine, step, counted, rows)
    assert whole.num_rows > 20 and parts.equals(whole)

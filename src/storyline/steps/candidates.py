"""Candidate pairs: articles that share an LSH band key or a rare winnowed n-gram.

Keys shared by more than ``max_bucket`` articles are too common (boilerplate, stock phrases) to
be evidence and are skipped, as passim does with its n-gram document-frequency cap: the gram index
is passim's index of n-grams shared by 2..K documents. Pairs are made with numpy on integer codes
(one matrix per bucket size), never with Python loops over rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import model
from ..config import CandidatesConfig


def bucket_pairs(article_ids: list[str], max_bucket: int) -> list[tuple[str, str]]:
    """All ordered ``(a, b)`` pairs (a < b) of one key's distinct articles, none if over the cap."""
    ids = sorted(set(article_ids))
    if not 2 <= len(ids) <= max_bucket:
        return []
    return list(combinations(ids, 2))


def key_pairs(keys: np.ndarray, docs: np.ndarray, max_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` code pairs (a < b), one per key two distinct docs share, for keys held by 2..max_bucket docs.

    Args:
        keys: key per row.
        docs: integer doc code per row (order of the codes is the order of the pair).
        max_bucket: keys held by more docs than this make no pairs.
    """
    if keys.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    order = np.lexsort((docs, keys))
    k, d = keys[order], docs[order]
    fresh = np.r_[True, (k[1:] != k[:-1]) | (d[1:] != d[:-1])]  # one row per (key, doc)
    k, d = k[fresh], d[fresh]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, k.size])
    out_a, out_b = [], []
    for s in np.unique(sizes[(sizes >= 2) & (sizes <= max_bucket)]).tolist():
        block = d[starts[sizes == s][:, None] + np.arange(s)[None, :]]  # (buckets, s), sorted rows
        iu, ju = np.triu_indices(s, 1)
        out_a.append(block[:, iu].ravel())
        out_b.append(block[:, ju].ravel())
    if not out_a:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(out_a).astype(np.int64), np.concatenate(out_b).astype(np.int64)


def _codes(ids: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of string ids whose order is the ids' sort order, and the sorted distinct ids."""
    uniq = pc.unique(ids)
    uniq = uniq.take(pc.sort_indices(uniq))
    return pc.index_in(ids, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64), uniq


def _shared(keys: np.ndarray) -> np.ndarray:
    """Mask of the rows whose key occurs on more than one row."""
    order = np.argsort(keys, kind="stable")  # group batches arrive sorted by key: a linear pass
    same = keys[order[1:]] == keys[order[:-1]]
    mask = np.zeros(keys.size, dtype=bool)
    mask[order[1:][same]] = True
    mask[order[:-1][same]] = True
    return mask


def shared_rows(keys: pa.Table) -> pa.Table:
    """The rows of ``keys`` whose key another row also holds: the only ones that can make a pair.

    Most winnowed grams belong to one article; dropping them before the group step spares the
    engine sorting and shuffling rows that cannot matter (over 90% of them on news).
    """
    return keys.filter(_shared(keys["band_key"].to_numpy())) if keys.num_rows else keys


def sum_keys(rows: pa.Table) -> pa.Table:
    """Candidate rows summed per ``(a_id, b_id, via)``: one row each, ``shared_keys`` their total.

    Sums of sums are sums, so rows summed in parts (say, per bucket of keys) and summed again
    count exactly what summing them all at once counts.
    """
    sums = rows.group_by(["a_id", "b_id", "via"]).aggregate([("shared_keys", "sum")])
    return pa.table({"a_id": sums["a_id"], "b_id": sums["b_id"], "shared_keys": sums["shared_keys_sum"],
                     "via": sums["via"]}, schema=model.CANDIDATE_PAIR)


@dataclass
class Candidates:
    """Group step (key ``band_key``): one pair row per key two articles share."""

    config: CandidatesConfig = field(default_factory=CandidatesConfig)
    kind: ClassVar[str] = "group"
    key: ClassVar[str] = "band_key"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "kind", "band_key")
    output_schema: ClassVar[pa.Schema] = model.CANDIDATE_PAIR

    def __call__(self, batch: pa.Table) -> pa.Table:
        # Keys held by one article make no pair (key_pairs skips them); the pipeline drops them
        # beforehand with shared_rows, so they are not filtered again here.
        if batch.num_rows == 0:
            return self.output_schema.empty_table()
        codes, uniq = _codes(batch["article_id"])
        keys = batch["band_key"].to_numpy()
        is_band = pc.equal(batch["kind"], "band").to_numpy(zero_copy_only=False)
        parts = []
        for via, mask in (("band", is_band), ("gram", ~is_band)):
            a, b = key_pairs(keys[mask], codes[mask], self.config.max_bucket)
            parts.append(pa.table({
                "a_id": uniq.take(pa.array(a)), "b_id": uniq.take(pa.array(b)),
                "shared_keys": pa.array(np.ones(a.size, dtype=np.int64)),
                "via": pa.array([via] * a.size, pa.string()),
            }, schema=self.output_schema))
        return pa.concat_tables(parts)


@dataclass
class CountPairs:
    """Group step (key ``a_id``): sum shared keys per pair and keep pairs with enough evidence."""

    config: CandidatesConfig = field(default_factory=CandidatesConfig)
    kind: ClassVar[str] = "group"
    key: ClassVar[str] = "a_id"
    reads: ClassVar[tuple[str, ...]] = ("a_id", "b_id", "shared_keys", "via")
    output_schema: ClassVar[pa.Schema] = model.CANDIDATE_PAIR

    def __call__(self, batch: pa.Table) -> pa.Table:
        if batch.num_rows == 0:
            return self.output_schema.empty_table()
        sums = sum_keys(batch)
        is_gram = pc.equal(sums["via"], "gram")
        # A gram link counts only with enough shared grams; a band link always counts.
        sums = sums.filter(pc.invert(pc.and_(is_gram, pc.less(sums["shared_keys"], self.config.min_shared_grams))))
        sums = sums.append_column("band", pc.equal(sums["via"], "band")).append_column(
            "gram", pc.equal(sums["via"], "gram"))
        pairs = sums.group_by(["a_id", "b_id"]).aggregate([("shared_keys", "sum"), ("band", "any"), ("gram", "any")])
        via = pc.if_else(pairs["band_any"], pc.if_else(pairs["gram_any"], "band+gram", "band"), "gram")
        out = pa.table({"a_id": pairs["a_id"], "b_id": pairs["b_id"],
                        "shared_keys": pairs["shared_keys_sum"], "via": via}, schema=self.output_schema)
        return out.sort_by([("a_id", "ascending"), ("b_id", "ascending")])

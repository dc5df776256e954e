"""Candidate pairs: articles that share an LSH band key or a winnowed n-gram.

Keys shared by more than ``max_bucket`` articles are too common (boilerplate, stock phrases) to
be evidence and are skipped, as passim does with its n-gram document-frequency cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import ClassVar

import pyarrow as pa

from .. import model
from ..config import CandidatesConfig


def bucket_pairs(article_ids: list[str], max_bucket: int) -> list[tuple[str, str]]:
    """All ordered ``(a, b)`` pairs (a < b) of one key's distinct articles, none if over the cap."""
    ids = sorted(set(article_ids))
    if not 2 <= len(ids) <= max_bucket:
        return []
    return list(combinations(ids, 2))


@dataclass
class Candidates:
    """Group step (key ``band_key``): one pair row per key two articles share."""

    config: CandidatesConfig = field(default_factory=CandidatesConfig)
    kind: ClassVar[str] = "group"
    key: ClassVar[str] = "band_key"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "kind", "band_key")
    output_schema: ClassVar[pa.Schema] = model.CANDIDATE_PAIR

    def __call__(self, batch: pa.Table) -> pa.Table:
        grouped = batch.group_by(["band_key", "kind"]).aggregate([("article_id", "list")])
        rows: dict[str, list] = {"a_id": [], "b_id": [], "shared_keys": [], "via": []}
        for kind, ids in zip(grouped["kind"].to_pylist(), grouped["article_id_list"].to_pylist()):
            for a, b in bucket_pairs(ids, self.config.max_bucket):
                rows["a_id"].append(a)
                rows["b_id"].append(b)
                rows["shared_keys"].append(1)
                rows["via"].append(kind)
        return pa.table(rows, schema=self.output_schema)


@dataclass
class CountPairs:
    """Group step (key ``a_id``): sum shared keys per pair and keep pairs with enough evidence."""

    config: CandidatesConfig = field(default_factory=CandidatesConfig)
    kind: ClassVar[str] = "group"
    key: ClassVar[str] = "a_id"
    reads: ClassVar[tuple[str, ...]] = ("a_id", "b_id", "shared_keys", "via")
    output_schema: ClassVar[pa.Schema] = model.CANDIDATE_PAIR

    def __call__(self, batch: pa.Table) -> pa.Table:
        sums = batch.group_by(["a_id", "b_id", "via"]).aggregate([("shared_keys", "sum")])
        pairs: dict[tuple[str, str], tuple[int, set[str]]] = {}
        for a, b, via, n in zip(*(sums[c].to_pylist() for c in ("a_id", "b_id", "via", "shared_keys_sum"))):
            if via == "gram" and n < self.config.min_shared_grams:
                continue
            total, vias = pairs.get((a, b), (0, set()))
            pairs[(a, b)] = (total + n, vias | {via})
        keys = sorted(pairs)
        out = {
            "a_id": [a for a, _ in keys],
            "b_id": [b for _, b in keys],
            "shared_keys": [pairs[k][0] for k in keys],
            "via": ["+".join(sorted(pairs[k][1])) for k in keys],
        }
        return pa.table(out, schema=self.output_schema)

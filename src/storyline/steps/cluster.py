"""Same-story clustering over several representations, with reuse links as decisive evidence.

Similarity of two articles mixes TF-IDF cosine of title+body with the overlap of their proper-noun
sets and figures, decays with the distance between publication dates, and is 1 when the reuse
stage found a long shared passage. Average-linkage agglomerative clustering cuts at
``1 - threshold``: average linkage keeps topic chains (A~B~C) from merging distinct events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

import numpy as np
import pyarrow as pa
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer

from .. import model
from ..config import ClusterConfig

# Runs of capitalised words; sentence-initial function words are dropped by the stop list below.
_PROPER = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:[A-Z][\w’'-]+|al|bin|de|van|von))*")
_NOT_NAMES = frozenset(
    "The A An In On At For But And Or If As It He She They We I This That These Those His Her Their "
    "Its Our Mr Mrs Ms Dr There When While After Before Since Until Although Though Because Many Some "
    "Most One Two Three Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March "
    "April May June July August September October November December".split()
)


def proper_nouns(text: str) -> frozenset[str]:
    """Lower-cased proper-noun phrases of ``text`` (a cheap stand-in for named entities)."""
    out = set()
    for m in _PROPER.finditer(text):
        words = [w for w in m.group().split() if w not in _NOT_NAMES]
        if words:
            out.add(" ".join(words).lower())
            out.update(w.lower() for w in words if len(w) > 3)
    return frozenset(out)


def _day(value: str | None) -> int | None:
    try:
        return date.fromisoformat((value or "")[:10]).toordinal()
    except ValueError:
        return None


def similarity(articles: list[dict], edges: list[tuple[str, str, int]], cfg: ClusterConfig) -> np.ndarray:
    """The article-by-article similarity matrix in ``[0, 1]``."""
    docs = [f"{a.get('title') or ''}\n{a.get('title') or ''}\n{a['text']}" for a in articles]
    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=1).fit_transform(docs)
    sim = (tfidf @ tfidf.T).toarray()
    names = [proper_nouns(d) for d in docs]
    ent = np.array([[len(x & y) / max(1, min(len(x), len(y))) for y in names] for x in names])
    sim = 0.7 * sim + 0.3 * ent
    days = [_day(a.get("published")) for a in articles]
    for i, di in enumerate(days):
        for j, dj in enumerate(days):
            if di is not None and dj is not None and abs(di - dj) > cfg.window_days:
                sim[i, j] *= 0.5
    index = {a["article_id"]: i for i, a in enumerate(articles)}
    for a_id, b_id, words in edges:
        if words >= cfg.reuse_min_words and a_id in index and b_id in index:
            sim[index[a_id], index[b_id]] = sim[index[b_id], index[a_id]] = 1.0
    np.fill_diagonal(sim, 1.0)
    return np.clip(sim, 0.0, 1.0)


def cluster_labels(sim: np.ndarray, threshold: float) -> list[int]:
    """Cluster labels from a similarity matrix, cut at ``1 - threshold`` distance."""
    if len(sim) == 1:
        return [0]
    model_ = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - threshold
    )
    return model_.fit_predict(1.0 - sim).tolist()


def roles(member_ids: list[str], reuse: list[tuple[str, str]]) -> dict[str, str]:
    """origin (only ever copied from), copy (copied something) or independent (no reuse)."""
    sources = {s for s, _ in reuse}
    copies = {c for _, c in reuse}
    return {
        a: "copy" if a in copies else "origin" if a in sources else "independent" for a in member_ids
    }


@dataclass
class Cluster:
    """Gather step: all articles and reuse edges -> story membership."""

    config: ClusterConfig = field(default_factory=ClusterConfig)
    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "title", "text", "published")
    edge_reads: ClassVar[tuple[str, ...]] = ("source_id", "copy_id", "shared_words", "reason")
    output_schema: ClassVar[pa.Schema] = model.STORY_MEMBER

    def __call__(self, articles: pa.Table, edges: pa.Table | None = None) -> pa.Table:
        rows = sorted(articles.select(list(self.reads)).to_pylist(), key=lambda r: r["article_id"])
        if not rows:
            return self.output_schema.empty_table()
        edge_rows = edges.to_pylist() if edges is not None else []
        triples = [(e["source_id"], e["copy_id"], e["shared_words"]) for e in edge_rows]
        labels = cluster_labels(similarity(rows, triples, self.config), self.config.threshold)
        groups: dict[int, list[dict]] = {}
        for row, label in zip(rows, labels):
            groups.setdefault(label, []).append(row)
        directed = [
            (e["source_id"], e["copy_id"]) for e in edge_rows
            if e["reason"] != "undecided" and e["shared_words"] >= self.config.reuse_min_words
        ]
        out = []
        for members in groups.values():
            first = min(members, key=lambda r: (r["published"] or "9999", r["article_id"]))
            story_id = model.stable_id("story", first["article_id"])
            ids = [m["article_id"] for m in members]
            role = roles(ids, [d for d in directed if d[0] in ids and d[1] in ids])
            out.extend({"story_id": story_id, "article_id": a, "role": role[a], "score": 1.0} for a in ids)
        out.sort(key=lambda r: (r["story_id"], r["article_id"]))
        return pa.Table.from_pylist(out, schema=self.output_schema)

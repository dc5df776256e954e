"""Streaming same-story clustering (Miranda et al. 2018, "Multilingual Clustering of Streaming News").

Articles are taken one at a time in ``(published, article_id)`` order. Each is compared with the
*active* stories (a story is active while its last article is within ``window_days``) over several
representations: hashed TF-IDF of the body, of the title and of the proper nouns (IDF counted
from the articles seen so far and frozen into each article's vector when it is inserted, so later
articles never change earlier vectors), the best single-member body cosine, and shared figures.
A logistic model learned on basil-dev (``bench/clustering.py --fit``, cross-validated by event)
turns those into a merge probability; the article joins the best story when that probability
reaches the threshold, else it opens a new story. A long reuse link (reuse stage) is decisive.

The step is incremental: articles already in ``previous`` keep their story and are only replayed
to rebuild the index state; new articles are assigned. Analyst corrections (merge, split) are
applied last, on every run (:mod:`storyline.corrections`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from .. import corrections as corrections_mod
from .. import model
from ..config import ClusterConfig

# Defaults until ClusterConfig carries them (see the report of issue #5).
N_FEATURES = 2**20
MERGE_THRESHOLD = 0.5  # merge probability at or above which an article joins its best story
REBUILD_EVERY = 256  # postings appended between rebuilds of the inverted index
FEATURES = ("cos_body", "cos_title", "cos_entities", "max_member_body", "shared_figures")
# Logistic merge model over FEATURES, learned on basil-dev with every other event as a negative,
# whatever its date (bench/clustering.py --fit prints these).
WEIGHTS = (9.0, 3.0, 6.0, 3.0, 1.0)
BIAS = -5.0

# Runs of capitalised words; sentence-initial function words are dropped by the stop list below.
_PROPER = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:[A-Z][\w’'-]+|al|bin|de|van|von))*")
_NOT_NAMES = frozenset(
    "The A An In On At For But And Or If As It He She They We I This That These Those His Her Their "
    "Its Our Mr Mrs Ms Dr There When While After Before Since Until Although Though Because Many Some "
    "Most One Two Three Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March "
    "April May June July August September October November December".split()
)
# Figures: numbers with at least two digits; bare years are too common to be evidence.
_FIGURE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")


def proper_nouns(text: str) -> frozenset[str]:
    """Lower-cased proper-noun phrases of ``text`` (a cheap stand-in for named entities)."""
    out = set()
    for m in _PROPER.finditer(text):
        words = [w for w in m.group().split() if w not in _NOT_NAMES]
        if words:
            out.add(" ".join(words).lower())
            out.update(w.lower() for w in words if len(w) > 3)
    return frozenset(out)


def figures(text: str) -> frozenset[str]:
    """Normalised numbers of ``text`` that can identify an event (``8.9``, ``13.75``, ``3000``)."""
    out = set()
    for m in _FIGURE.finditer(text):
        value = m.group().replace(",", "").rstrip(".")
        if len(value.replace(".", "")) >= 2 and not _YEAR.match(value):
            out.add(value)
    return frozenset(out)


def _entity_tokens(doc: str) -> list[str]:
    return sorted(proper_nouns(doc))


_WORDS = HashingVectorizer(n_features=N_FEATURES, alternate_sign=False, norm=None, stop_words="english",
                           dtype=np.float32)
_ENTITIES = HashingVectorizer(n_features=N_FEATURES, alternate_sign=False, norm=None, analyzer=_entity_tokens,
                              dtype=np.float32)


def _day(value: str | None) -> int | None:
    try:
        return date.fromisoformat((value or "")[:10]).toordinal()
    except ValueError:
        return None


def _sublinear(x: sp.csr_matrix) -> sp.csr_matrix:
    x = x.tocsr()
    x.data = 1.0 + np.log(x.data)
    return x


@dataclass
class Doc:
    """One article's raw representations (term frequencies before IDF)."""

    article_id: str
    day: int | None
    tf: tuple[tuple[np.ndarray, np.ndarray], ...]  # (indices, sublinear tf) for body, title, entities
    figures: frozenset[str]


def featurize(rows: list[dict]) -> list[Doc]:
    """Hashed term frequencies of body, title and proper nouns, and figures, for ``rows`` (batch)."""
    if not rows:
        return []
    titles = [r.get("title") or "" for r in rows]
    bodies = [r.get("text") or "" for r in rows]
    mats = [_sublinear(_WORDS.transform(bodies)), _sublinear(_WORDS.transform(titles)),
            _sublinear(_ENTITIES.transform([f"{t}\n{b}" for t, b in zip(titles, bodies)]))]
    docs = []
    for i, r in enumerate(rows):
        tf = tuple((m.indices[m.indptr[i]:m.indptr[i + 1]], m.data[m.indptr[i]:m.indptr[i + 1]]) for m in mats)
        docs.append(Doc(r["article_id"], _day(r.get("published")), tf, figures(bodies[i])))
    return docs


class _Postings:
    """One representation: incremental document frequencies and an inverted index of member vectors.

    A story centroid is the sum of its members' unit vectors, so ``q . centroid`` is the sum of
    ``q . member`` over its members: scoring goes through member postings and sums per story.
    """

    def __init__(self, n_features: int) -> None:
        self.df = np.zeros(n_features, np.float32)
        self.n_docs = 0
        self.vectors: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # doc -> unit vector (active docs)
        self.doc_story: dict[int, int] = {}
        self.norm2: dict[int, float] = {}  # story -> |centroid|^2
        self.inv = sp.csr_matrix((n_features, 0), dtype=np.float32)
        self.inv_docs = np.zeros(0, np.int64)
        self.buffer: list[int] = []
        self.scratch = np.zeros(n_features, np.float32)

    def weigh(self, idx: np.ndarray, tf: np.ndarray) -> np.ndarray:
        """Unit TF-IDF weights with the IDF of the documents seen so far."""
        idf = np.log((self.n_docs + 1.0) / (self.df[idx] + 1.0)) + 1.0
        w = tf * idf
        norm = float(np.sqrt(w @ w))
        return w / norm if norm else w

    def doc_dots(self, idx: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(doc ids, dot products) of the active documents sharing a term with the query."""
        docs, dots = [], []
        if self.inv_docs.size and idx.size:
            d = np.asarray(w @ self.inv[idx]).ravel()
            hit = np.flatnonzero(d)
            docs.append(self.inv_docs[hit])
            dots.append(d[hit])
        if self.buffer and idx.size:
            self.scratch[idx] = w
            for doc in self.buffer:
                di, dw = self.vectors[doc]
                v = float(self.scratch[di] @ dw)
                if v:
                    docs.append(np.array([doc]))
                    dots.append(np.array([v], np.float32))
            self.scratch[idx] = 0.0
        if not docs:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(docs), np.concatenate(dots)

    def add(self, doc: int, story: int, idx: np.ndarray, w: np.ndarray, dot_story: float) -> None:
        """Insert a weighted document into ``story`` (``dot_story``: its dot with the centroid)."""
        self.df[idx] += 1.0
        self.n_docs += 1
        self.norm2[story] = self.norm2.get(story, 0.0) + 2.0 * dot_story + float(w @ w)
        if not idx.size:
            return
        self.vectors[doc] = (idx, w)
        self.doc_story[doc] = story
        self.buffer.append(doc)

    def rebuild(self, keep: Iterable[int]) -> None:
        """Rebuild the inverted index over the documents in ``keep``; forget the others."""
        keep = sorted(d for d in keep if d in self.vectors)
        self.vectors = {d: self.vectors[d] for d in keep}
        self.doc_story = {d: self.doc_story[d] for d in keep}
        self.buffer = []
        if not keep:
            self.inv, self.inv_docs = sp.csr_matrix((len(self.df), 0), dtype=np.float32), np.zeros(0, np.int64)
            return
        lens = [self.vectors[d][0].size for d in keep]
        indptr = np.concatenate([[0], np.cumsum(lens)])
        mat = sp.csr_matrix((np.concatenate([self.vectors[d][1] for d in keep]),
                             np.concatenate([self.vectors[d][0] for d in keep]), indptr),
                            shape=(len(keep), len(self.df)))
        self.inv, self.inv_docs = mat.T.tocsr(), np.array(keep, np.int64)


@dataclass
class _Story:
    slot: int
    story_id: str
    first_day: int | None
    last_day: int | None
    figures: set[str] = field(default_factory=set)
    size: int = 0


def _gap(day: int | None, story: _Story) -> int:
    """Days between ``day`` and the story's date range (0 inside it or when a date is unknown)."""
    if day is None or story.first_day is None or story.last_day is None:
        return 0
    return max(0, story.first_day - day, day - story.last_day)


def merge_probability(x: np.ndarray, weights: tuple[float, ...] = WEIGHTS, bias: float = BIAS) -> np.ndarray:
    """The logistic merge model over the rows of ``x`` (columns: :data:`FEATURES`)."""
    z = x @ np.asarray(weights, np.float64) + bias
    return 1.0 / (1.0 + np.exp(-z))


class StoryIndex:
    """The active stories and their representations: score an article against them, add it to one.

    Memory holds the member vectors of stories active within ``window_days`` of the newest
    article seen; older stories keep only their id and figures until evicted at the next rebuild.
    """

    def __init__(self, window_days: int = 7, n_features: int = N_FEATURES) -> None:
        self.window_days = window_days
        self.reps = [_Postings(n_features) for _ in range(3)]
        self.stories: list[_Story] = []
        self.by_id: dict[str, int] = {}
        self.n_docs = 0
        self.newest: int | None = None

    def _active(self, story: _Story, day: int | None) -> bool:
        return _gap(day, story) <= self.window_days

    def weigh(self, doc: Doc) -> list[tuple[np.ndarray, np.ndarray]]:
        """The doc's unit TF-IDF vectors under the current IDF, one per representation."""
        return [(idx, rep.weigh(idx, tf)) for rep, (idx, tf) in zip(self.reps, doc.tf)]

    def candidates(self, doc: Doc, vecs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[int], np.ndarray]:
        """Active stories sharing a body word or a name with ``doc``, and their feature rows."""
        per_rep, max_member = [], {}
        for k, (rep, (idx, w)) in enumerate(zip(self.reps, vecs)):
            docs, dots = rep.doc_dots(idx, w)
            sums: dict[int, float] = {}
            for d, v in zip(docs.tolist(), dots.tolist()):
                s = rep.doc_story[d]
                sums[s] = sums.get(s, 0.0) + v
                if k == 0 and v > max_member.get(s, 0.0):
                    max_member[s] = v
            per_rep.append(sums)
        slots = sorted(s for s in set(per_rep[0]) | set(per_rep[2]) if self._active(self.stories[s], doc.day))
        x = np.zeros((len(slots), len(FEATURES)))
        for i, s in enumerate(slots):
            for k in range(3):
                n2 = self.reps[k].norm2.get(s, 0.0)
                x[i, k] = per_rep[k].get(s, 0.0) / math.sqrt(n2) if n2 > 0 else 0.0
            x[i, 3] = max_member.get(s, 0.0)
            x[i, 4] = min(1.0, len(doc.figures & self.stories[s].figures) / 3.0)
        self._dots = per_rep  # reused by add() for the centroid norm update
        return slots, x

    def open(self, story_id: str, day: int | None) -> int:
        """A new empty story; returns its slot."""
        slot = len(self.stories)
        self.stories.append(_Story(slot, story_id, day, day))
        self.by_id[story_id] = slot
        return slot

    def add(self, doc: Doc, vecs: list[tuple[np.ndarray, np.ndarray]], slot: int) -> None:
        """Insert ``doc`` into the story at ``slot`` (after :meth:`candidates` on the same doc)."""
        dots = getattr(self, "_dots", None) or [{}, {}, {}]
        for k, (rep, (idx, w)) in enumerate(zip(self.reps, vecs)):
            rep.add(self.n_docs, slot, idx, w, dots[k].get(slot, 0.0))
        self._dots = None
        self.n_docs += 1
        story = self.stories[slot]
        story.size += 1
        story.figures |= doc.figures
        if doc.day is not None:
            story.first_day = doc.day if story.first_day is None else min(story.first_day, doc.day)
            story.last_day = doc.day if story.last_day is None else max(story.last_day, doc.day)
            self.newest = doc.day if self.newest is None else max(self.newest, doc.day)
        if len(self.reps[0].buffer) >= REBUILD_EVERY:
            self.rebuild()

    def rebuild(self) -> None:
        """Fold the recent postings into the inverted index and evict stories out of the window."""
        for rep in self.reps:
            keep = [d for d, s in rep.doc_story.items() if self._active(self.stories[s], self.newest)]
            rep.rebuild(keep)


@dataclass
class Decision:
    """Where an article went and why."""

    article_id: str
    story_id: str
    score: float
    reason: str  # previous | reuse | merge | new


def stream(
    docs: list[Doc],
    previous: dict[str, str],
    reuse: dict[str, list[tuple[str, int]]],
    window_days: int = 7,
    threshold: float = MERGE_THRESHOLD,
    weights: tuple[float, ...] = WEIGHTS,
    bias: float = BIAS,
) -> list[Decision]:
    """Assign ``docs`` (in the order given) to stories; ids in ``previous`` keep their story.

    Args:
        docs: featurized articles, already sorted in stream order.
        previous: article id -> story id for articles assigned by an earlier run.
        reuse: article id -> [(partner id, shared words)] for decisive reuse links.
        window_days: a story stays active this many days after its last article.
        threshold: merge probability needed to join the best active story.

    Returns:
        One :class:`Decision` per doc, in the order given.
    """
    index = StoryIndex(window_days)
    assigned = dict(previous)
    out = []
    for doc in docs:
        vecs = index.weigh(doc)
        slots, x = index.candidates(doc, vecs)
        story_id, score, reason = _decide(doc, slots, x, index, assigned, reuse, threshold, weights, bias)
        slot = index.by_id.get(story_id)
        if slot is None:
            slot = index.open(story_id, doc.day)
        index.add(doc, vecs, slot)
        assigned[doc.article_id] = story_id
        out.append(Decision(doc.article_id, story_id, score, reason))
    return out


def _decide(doc: Doc, slots: list[int], x: np.ndarray, index: StoryIndex, assigned: dict[str, str],
            reuse: dict[str, list[tuple[str, int]]], threshold: float, weights: tuple[float, ...],
            bias: float) -> tuple[str, float, str]:
    if doc.article_id in assigned:
        return assigned[doc.article_id], float("nan"), "previous"
    partners = [(words, p) for p, words in reuse.get(doc.article_id, ()) if p in assigned]
    if partners:
        return assigned[max(partners)[1]], 1.0, "reuse"
    if slots:
        p = merge_probability(x, weights, bias)
        best = int(np.argmax(p))
        if p[best] >= threshold:
            return index.stories[slots[best]].story_id, float(p[best]), "merge"
    story_id = model.stable_id("story", doc.article_id)
    return story_id, 1.0, "new"


def stream_order(row: dict) -> tuple:
    """Sort key of the stream: publication date, then the full timestamp, then the id."""
    day = _day(row.get("published"))
    return (day if day is not None else 10**9, row.get("published") or "", row["article_id"])


def roles(member_ids: list[str], reuse: list[tuple[str, str]]) -> dict[str, str]:
    """origin (only ever copied from), copy (copied something) or independent (no reuse)."""
    sources = {s for s, _ in reuse}
    copies = {c for _, c in reuse}
    return {
        a: "copy" if a in copies else "origin" if a in sources else "independent" for a in member_ids
    }


def _reuse_links(edge_rows: list[dict], min_words: int) -> dict[str, list[tuple[str, int]]]:
    links: dict[str, list[tuple[str, int]]] = {}
    for e in edge_rows:
        if e["shared_words"] >= min_words:
            links.setdefault(e["source_id"], []).append((e["copy_id"], e["shared_words"]))
            links.setdefault(e["copy_id"], []).append((e["source_id"], e["shared_words"]))
    return links


@dataclass
class Cluster:
    """Gather step: articles, reuse edges, the previous stories and corrections -> story membership.

    Example:
        >>> stories = Cluster()(articles, edges, previous=store.read("stories"))  # doctest: +SKIP
    """

    config: ClusterConfig = field(default_factory=ClusterConfig)
    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "title", "text", "published")
    edge_reads: ClassVar[tuple[str, ...]] = ("source_id", "copy_id", "shared_words", "reason")
    output_schema: ClassVar[pa.Schema] = model.STORY_MEMBER

    def __call__(self, articles: pa.Table, edges: pa.Table | None = None, previous: pa.Table | None = None,
                 corrections: pa.Table | None = None) -> pa.Table:
        rows = sorted(articles.select(list(self.reads)).to_pylist(), key=stream_order)
        if not rows:
            return self.output_schema.empty_table()
        ids = {r["article_id"] for r in rows}
        old = [m for m in (previous.to_pylist() if previous is not None else []) if m["article_id"] in ids]
        edge_rows = edges.to_pylist() if edges is not None else []
        cfg = self.config
        decisions = stream(featurize(rows), {m["article_id"]: m["story_id"] for m in old},
                           _reuse_links(edge_rows, cfg.reuse_min_words), cfg.window_days,
                           getattr(cfg, "merge_threshold", MERGE_THRESHOLD))
        old_score = {m["article_id"]: m["score"] for m in old}
        members = [{"story_id": d.story_id, "article_id": d.article_id,
                    "score": old_score[d.article_id] if d.reason == "previous" else d.score} for d in decisions]
        if corrections is not None and corrections.num_rows:
            order = {r["article_id"]: stream_order(r) for r in rows}
            members = corrections_mod.apply(members, corrections, order)
        directed = [(e["source_id"], e["copy_id"]) for e in edge_rows
                    if e["reason"] != "undecided" and e["shared_words"] >= cfg.reuse_min_words]
        return _with_roles(members, directed, self.output_schema)


def _with_roles(members: list[dict], directed: list[tuple[str, str]], schema: pa.Schema) -> pa.Table:
    groups: dict[str, list[str]] = {}
    for m in members:
        groups.setdefault(m["story_id"], []).append(m["article_id"])
    role: dict[str, str] = {}
    for ids in groups.values():
        inside = set(ids)
        role.update(roles(ids, [d for d in directed if d[0] in inside and d[1] in inside]))
    out = [{**m, "role": role[m["article_id"]]} for m in members]
    out.sort(key=lambda r: (r["story_id"], r["article_id"]))
    return pa.Table.from_pylist(out, schema=schema)

"""Passage alignment of candidate pairs, and the direction of reuse.

Alignment is verification after candidates, so it is vectorised: both texts are tokenised once
(word hashes, with name variants folded: "U.S."/"US", "ISIL"/"Islamic State"), exact word
``seed_words``-grams shared by both are found by sorting, seeds on one diagonal are merged into
exact runs, and runs are chained when they advance together in both texts with gaps of at most
``max_gap_words`` (substitutions, insertions and dropped words become gaps). A chain then grows
at both ends with exact runs too short to hold a seed (>= ``extend_min_run`` words past a gap of
<= ``max_gap_words``), so a passage edited every few words is not measured short. Each chain long
enough is a passage with character offsets in both articles; the gaps and alias differences
inside it are listed as edits. A pair that takes longer than ``timeout_s`` is rejected, not
aligned. :class:`Direction` orients each pair (source -> copy) and carries its edits that way;
:class:`ReuseClusters` merges passages across the corpus into clusters of articles carrying the
same text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import model
from ..config import AlignConfig
from ..textutil import ALIAS_CANON, Tokens, is_in, ngram_hashes, tokenize
from .base import REJECT_COLUMN, StepTimeout, time_limit, with_reject
from .edits import edge_edits

MAX_REPEAT = 4  # seed n-grams repeated more often than this in either text are not anchors
ALIASES = True


@dataclass(frozen=True, slots=True)
class Passage:
    """One aligned passage: character offsets in both texts, matched words, score and edits."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    matched_words: int
    score: float
    edits: tuple[tuple[str, str], ...]


SeedIndex = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def seed_index(h: np.ndarray, k: int, max_repeat: int = MAX_REPEAT) -> SeedIndex:
    """A text's anchor ``k``-grams, built once per text and reused for every pair it is in.

    Returns ``(pos, grams, sorted_grams, sorted_pos)`` of the ``k``-grams repeated at most
    ``max_repeat`` times in the text (stock phrases anchor nothing), in text order and sorted.
    """
    g = ngram_hashes(h, k)
    order = np.argsort(g, kind="stable")
    sg = g[order]
    if sg.size:
        starts = np.flatnonzero(np.r_[True, sg[1:] != sg[:-1]])
        counts = np.diff(np.r_[starts, sg.size])
        ok_sorted = np.repeat(counts <= max_repeat, counts)
    else:
        ok_sorted = np.zeros(0, dtype=bool)
    ok = np.empty(g.size, dtype=bool)
    ok[order] = ok_sorted
    pos = np.flatnonzero(ok)
    return pos, g[pos], sg[ok_sorted], order[ok_sorted]


@numba.njit(cache=True, nogil=True)
def _join(pos_a: np.ndarray, ga: np.ndarray, sb: np.ndarray, ob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.searchsorted(sb, ga)
    cnt = np.zeros(ga.size, np.int64)
    for t in range(ga.size):
        e = lo[t]
        while e < sb.size and sb[e] == ga[t]:
            e += 1
        cnt[t] = e - lo[t]
    i = np.empty(cnt.sum(), np.int64)
    j = np.empty(i.size, np.int64)
    w = 0
    for t in range(ga.size):
        for u in range(cnt[t]):
            i[w] = pos_a[t]
            j[w] = ob[lo[t] + u]
            w += 1
    return i, j


def match_index(ia: SeedIndex, ib: SeedIndex) -> tuple[np.ndarray, np.ndarray]:
    """``(i, j)`` arrays where anchor ``k``-grams of two indexed texts are equal (``i`` ascending)."""
    if ia[1].size == 0 or ib[2].size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return _join(ia[0].astype(np.int64, copy=False), ia[1], ib[2], ib[3].astype(np.int64, copy=False))


def seed_matches(ha: np.ndarray, hb: np.ndarray, k: int, max_repeat: int = MAX_REPEAT) -> tuple[np.ndarray, np.ndarray]:
    """``(i, j)`` arrays where the word ``k``-grams at ``a[i]`` and ``b[j]`` are equal.

    ``ha``/``hb`` are word hashes; k-grams repeated more than ``max_repeat`` times in either text
    are skipped (stock phrases anchor nothing).
    """
    return match_index(seed_index(ha, k, max_repeat), seed_index(hb, k, max_repeat))


def runs(i: np.ndarray, j: np.ndarray, k: int) -> list[tuple[int, int, int, int]]:
    """Merge seeds on one diagonal into exact runs ``(a0, a1, b0, b1)`` of words (ends exclusive)."""
    if i.size == 0:
        return []
    diag = j - i
    order = np.lexsort((i, diag))
    i, diag = i[order], diag[order]
    cut = np.r_[True, (diag[1:] != diag[:-1]) | (i[1:] != i[:-1] + 1)]
    s = np.flatnonzero(cut)
    e = np.r_[s[1:], i.size] - 1
    a0, a1 = i[s], i[e] + k
    out = sorted(zip(a0.tolist(), a1.tolist(), (a0 + diag[s]).tolist(), (a1 + diag[s]).tolist()))
    return out


def chain(runs_: list[tuple[int, int, int, int]], max_gap: int) -> list[list[tuple[int, int, int, int]]]:
    """Group runs (sorted by start in ``a``) into chains that advance in both texts with gaps <= ``max_gap``."""
    chains: list[list[tuple[int, int, int, int]]] = []
    for r in runs_:
        a0, _, b0, _ = r
        best, best_cost = None, None
        for c in chains[-8:]:  # only recent chains can still be extended
            _, pa1, _, pb1 = c[-1]
            ga, gb = a0 - pa1, b0 - pb1
            if -max_gap <= ga <= max_gap and -max_gap <= gb <= max_gap and abs(ga - gb) <= max_gap:
                cost = (abs(ga - gb), max(ga, gb))
                if best_cost is None or cost < best_cost:
                    best, best_cost = c, cost
        if best is None:
            chains.append([r])
        elif r[1] > best[-1][1] and r[3] > best[-1][3]:
            # A run overlapping the chain's end (a phrase repeated in one text) keeps only its new part.
            shift = max(best[-1][1] - a0, best[-1][3] - b0, 0)
            best.append((a0 + shift, r[1], b0 + shift, r[3]))
    return chains


@numba.njit(cache=True, nogil=True)
def _next_run(ha: np.ndarray, hb: np.ndarray, i: int, j: int, step: int, max_gap: int,
              min_run: int) -> tuple[int, int, int]:
    """The closest exact run of >= ``min_run`` words past a gap of <= ``max_gap`` words in each text.

    Walks from the word pair ``(i, j)`` (the first words outside the chain) in direction ``step``
    (+1 forward, -1 backward); returns ``(i, j, length)`` of the run's first pair and its length,
    length 0 when there is none. Compiled: it is the inner loop of every alignment.
    """
    na, nb = ha.size, hb.size
    bx, by, bn = -1, -1, 0
    for d in range(2 * max_gap + 1):  # smallest total gap first
        for da in range(max(0, d - max_gap), min(d, max_gap) + 1):
            x, y = i + step * da, j + step * (d - da)
            n = 0
            while 0 <= x + step * n < na and 0 <= y + step * n < nb and ha[x + step * n] == hb[y + step * n]:
                n += 1
            if n >= min_run and n > bn:
                bx, by, bn = x, y, n
        if bn > 0:
            break
    return bx, by, bn


def extend(c: list[tuple[int, int, int, int]], ha: np.ndarray, hb: np.ndarray,
           max_gap: int, min_run: int = AlignConfig.extend_min_run) -> list[tuple[int, int, int, int]]:
    """Grow a chain at both ends with exact runs too short to hold a seed, across gaps <= ``max_gap``.

    Seeds are ``seed_words``-grams, so a passage whose edits fall every few words is found only in
    pieces; this picks up the shorter runs ("he is becoming" ... "best recruiter") beside the chain.
    """
    c = list(c)
    while True:  # backward
        a0, _, b0, _ = c[0]
        x, y, n = _next_run(ha, hb, a0 - 1, b0 - 1, -1, max_gap, min_run)
        if n == 0:
            break
        c.insert(0, (x - n + 1, x + 1, y - n + 1, y + 1))
    while True:  # forward
        _, a1, _, b1 = c[-1]
        x, y, n = _next_run(ha, hb, a1, b1, 1, max_gap, min_run)
        if n == 0:
            break
        c.append((x, x + n, y, y + n))
    return c


def _matched(c: list[tuple[int, int, int, int]], ha: np.ndarray, hb: np.ndarray) -> int:
    """Words of ``a`` covered by the runs, plus equal words at both ends of each gap between runs."""
    covered, last, prev = 0, -1, None
    for a0, a1, b0, b1 in c:
        covered += max(0, a1 - max(a0, last))
        if prev is not None and a0 > prev[1] and b0 > prev[3]:
            ga, gb = ha[prev[1]:a0], hb[prev[3]:b0]
            n = min(ga.size, gb.size)
            same = ga[:n] == gb[:n]
            covered += int(np.cumprod(same).sum()) + int(np.cumprod((ga[::-1][:n] == gb[::-1][:n]) & ~same[::-1]).sum())
        last, prev = max(last, a1), (a0, a1, b0, b1)
    return covered


def _edits(ta: Tokens, tb: Tokens, c: list[tuple[int, int, int, int]]) -> tuple[tuple[str, str], ...]:
    """The gaps between runs, and alias differences inside runs, as ``(a_words, b_words)``."""
    out = []
    prev = None
    for a0, a1, b0, b1 in c:
        if prev is not None:
            ea = [ta.word(x) for x in range(prev[1], a0)]
            eb = [tb.word(y) for y in range(prev[3], b0)]
            if ea or eb:
                out.append((" ".join(ea), " ".join(eb)))
        x0, y0 = max(a0, prev[1] if prev else a0), max(b0, prev[3] if prev else b0)
        # Equal hashes, different surface only where a name variant was folded ("isil" / "islamic state").
        for d in np.flatnonzero(is_in(ta.hashes[x0:a1], ALIAS_CANON)).tolist():
            if d < b1 - y0 and ta.word(x0 + d) != tb.word(y0 + d):
                out.append((ta.word(x0 + d), tb.word(y0 + d)))
        prev = (a0, a1, b0, b1)
    return tuple(out)


def align_tokens(ta: Tokens, tb: Tokens, cfg: AlignConfig, index_a: SeedIndex | None = None,
                 index_b: SeedIndex | None = None) -> list[Passage]:
    """Aligned passages of two tokenised texts, in order of their position in ``a``.

    ``index_a``/``index_b`` (from :func:`seed_index` with ``cfg.seed_words``) save re-indexing a
    text that is in many pairs.
    """
    k = cfg.seed_words
    i, j = match_index(index_a if index_a is not None else seed_index(ta.hashes, k),
                       index_b if index_b is not None else seed_index(tb.hashes, k))
    if i.size * k < cfg.min_passage_words:  # not enough seeds to cover a passage
        return []
    found = []
    for c in chain(runs(i, j, k), cfg.max_gap_words):
        c = extend(c, ta.hashes, tb.hashes, cfg.max_gap_words, cfg.extend_min_run)
        matched = _matched(c, ta.hashes, tb.hashes)
        if matched >= cfg.min_passage_words:
            found.append((matched, c))
    kept: list[tuple[int, int, int, int]] = []
    passages = []
    for matched, c in sorted(found, key=lambda f: -f[0]):
        i0, i1 = c[0][0], c[-1][1]
        j0, j1 = min(r[2] for r in c), max(r[3] for r in c)
        # Extension can grow a short chain into a longer one's span: keep the longer.
        if any(i0 < x1 and x0 < i1 and j0 < y1 and y0 < j1 for x0, x1, y0, y1 in kept):
            continue
        kept.append((i0, i1, j0, j1))
        score = matched / max(i1 - i0, j1 - j0)
        passages.append(Passage(
            int(ta.starts[i0]), int(ta.ends[i1 - 1]), int(tb.starts[j0]), int(tb.ends[j1 - 1]),
            matched, round(score, 4), _edits(ta, tb, c),
        ))
    return sorted(passages, key=lambda p: (p.a_start, p.b_start))


def align(a: str, b: str, cfg: AlignConfig | None = None) -> list[Passage]:
    """Aligned passages of texts ``a`` and ``b``.

    Example:
        >>> p = align("one two three four five six seven", "zero one two three four five six seven",
        ...           AlignConfig(seed_words=3, min_passage_words=5))
        >>> (p[0].a_start, p[0].b_start)
        (0, 5)
    """
    return align_tokens(tokenize(a, aliases=ALIASES), tokenize(b, aliases=ALIASES), cfg or AlignConfig())


@dataclass
class Align:
    """Map step over candidate pairs joined with both texts -> aligned passages.

    A pair that runs past ``config.timeout_s`` gives no passages but one row with only its ids and
    a ``_reject`` reason, which the pipeline moves to the rejects table.
    """

    config: AlignConfig = field(default_factory=AlignConfig)
    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("a_id", "a_text", "b_id", "b_text")
    output_schema: ClassVar[pa.Schema] = with_reject(model.ALIGNMENT)

    def __call__(self, batch: pa.Table) -> pa.Table:
        cols: dict[str, list] = {name: [] for name in self.output_schema.names}
        texts: dict[str, tuple[Tokens, SeedIndex]] = {}  # each text is tokenised and indexed once per batch
        limit = self.config.timeout_s
        for a_id, a_text, b_id, b_text in zip(*(batch[c].to_pylist() for c in self.reads)):
            try:
                # Tokenising is inside the limit too: a pathological text is the usual slow pair.
                with time_limit(limit):
                    ta, ia = texts.get(a_id) or texts.setdefault(a_id, self._prepare(a_text))
                    tb, ib = texts.get(b_id) or texts.setdefault(b_id, self._prepare(b_text))
                    found = align_tokens(ta, tb, self.config, ia, ib)
            except StepTimeout:
                # One slow pair must neither stall the run nor vanish: it becomes a visible reject.
                reject = {"a_id": a_id, "b_id": b_id, REJECT_COLUMN: f"timeout: pair took longer than {limit}s"}
                for name in cols:
                    cols[name].append(reject.get(name))
                continue
            for p in found:
                for name, value in (("a_id", a_id), ("a_start", p.a_start), ("a_end", p.a_end), ("b_id", b_id),
                                    ("b_start", p.b_start), ("b_end", p.b_end), ("score", p.score),
                                    ("words", p.matched_words), ("edits", json.dumps(p.edits)),
                                    (REJECT_COLUMN, None)):
                    cols[name].append(value)
        return pa.table(cols, schema=self.output_schema)

    def _prepare(self, text: str | None) -> tuple[Tokens, SeedIndex]:
        t = tokenize(text or "", aliases=ALIASES)
        return t, seed_index(t.hashes, self.config.seed_words)


def reuse_clusters(alignments: pa.Table, min_overlap: float = AlignConfig.cluster_overlap) -> pa.Table:
    """Merge aligned passages across the corpus into reuse clusters (passim's passage clusters).

    Every alignment row links a span of ``a`` to a span of ``b``; spans of one article that overlap
    by at least ``min_overlap`` of the shorter one are the same reused text. The connected
    components of these links are the clusters: one text and every article that carries it.

    Args:
        alignments: rows with ``a_id, a_start, a_end, b_id, b_start, b_end`` (the ALIGNMENT schema).
        min_overlap: share of the shorter span two spans of one article must overlap to merge;
            lower values chain neighbouring but different passages into one cluster.

    Returns:
        One row per (cluster, article) with the article's merged span, sorted by cluster then article.

    Example:
        >>> t = pa.table({"a_id": ["x", "y"], "a_start": [0, 5], "a_end": [100, 90], "b_id": ["y", "z"],
        ...               "b_start": [0, 0], "b_end": [95, 80]})
        >>> reuse_clusters(t)["article_id"].to_pylist()
        ['x', 'y', 'z']
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not 0.0 < min_overlap <= 1.0:
        raise ValueError(f"min_overlap={min_overlap!r} is out of range; use a value in (0, 1]")
    if alignments.num_rows == 0:
        return model.REUSE_CLUSTER.empty_table()
    ids = pa.concat_arrays([alignments["a_id"].combine_chunks(), alignments["b_id"].combine_chunks()])
    start = np.concatenate([alignments["a_start"].to_numpy(), alignments["b_start"].to_numpy()]).astype(np.int64)
    end = np.concatenate([alignments["a_end"].to_numpy(), alignments["b_end"].to_numpy()]).astype(np.int64)
    uniq = pc.unique(ids)
    uniq = uniq.take(pc.sort_indices(uniq))
    art = pc.index_in(ids, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
    n, rows = art.size, alignments.num_rows
    src, dst = [np.arange(rows)], [np.arange(rows) + rows]  # the two spans of one alignment
    # Spans of one article in start order: each is compared with the span reaching furthest before it.
    order = np.lexsort((end, start, art))
    a_s, s_s, e_s = art[order], start[order], end[order]
    # Furthest-reaching span so far, per article: a running max of (article, end), which restarts at
    # each article because article codes increase; its index is the last place the max was reached.
    key = a_s * (int(e_s.max()) + 1) + e_s
    at_max = np.where(key == np.maximum.accumulate(key), np.arange(n), 0)
    reach = np.r_[0, np.maximum.accumulate(at_max)[:-1]]
    prev = reach[1:]
    cur = np.arange(1, n)
    overlap = np.minimum(e_s[cur], e_s[prev]) - s_s[cur]
    shorter = np.minimum(e_s[cur] - s_s[cur], e_s[prev] - s_s[prev])
    same = (a_s[cur] == a_s[prev]) & (overlap > 0) & (overlap >= min_overlap * np.maximum(shorter, 1))
    src.append(order[cur[same]])
    dst.append(order[prev[same]])
    i, j = np.concatenate(src), np.concatenate(dst)
    _, comp = connected_components(coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)), directed=False)
    # One span per (cluster, article), in numpy rather than an Acero group-by: the same rows at half
    # the CPU and 18% less peak memory on the 1M alignments.
    by_group = np.lexsort((art, comp))
    comp_g, art_g = comp[by_group], art[by_group]
    head = np.flatnonzero(np.r_[True, (comp_g[1:] != comp_g[:-1]) | (art_g[1:] != art_g[:-1])])
    g_comp, g_art = comp_g[head], art_g[head]
    g_start = np.minimum.reduceat(start[by_group], head)
    g_end = np.maximum.reduceat(end[by_group], head)
    g_count = np.diff(np.r_[head, n])
    del by_group, comp_g, art_g
    article_id = uniq.take(pa.array(g_art))
    # A cluster's id is its first article (by id) and that article's span start: stable across runs.
    opens = np.r_[True, g_comp[1:] != g_comp[:-1]]
    first = np.flatnonzero(opens)
    names = article_id.take(pa.array(first)).to_pylist()
    cluster_ids = pa.array([model.stable_id("reuse", a, st) for a, st in zip(names, g_start[first].tolist())])
    cluster_id = cluster_ids.take(pa.array(np.cumsum(opens) - 1))
    out = pa.table({"cluster_id": cluster_id, "article_id": article_id, "start": g_start, "end": g_end,
                    "passages": g_count}, schema=model.REUSE_CLUSTER)
    return out.sort_by([("cluster_id", "ascending"), ("article_id", "ascending"), ("start", "ascending")])


@dataclass
class ReuseClusters:
    """Gather step: every alignment of the corpus -> reuse clusters (:func:`reuse_clusters`)."""

    config: AlignConfig = field(default_factory=AlignConfig)
    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("a_id", "a_start", "a_end", "b_id", "b_start", "b_end")
    output_schema: ClassVar[pa.Schema] = model.REUSE_CLUSTER

    def __call__(self, alignments: pa.Table) -> pa.Table:
        return reuse_clusters(alignments.select(list(self.reads)), self.config.cluster_overlap)


PASSAGE_EDITS = pa.list_(pa.struct([("a_start", pa.int64()), ("b_start", pa.int64()), ("edits", pa.string())]))


def pair_passages(alignments: pa.Table) -> pa.Table:
    """One row per aligned pair: ``a_id, b_id, shared_words`` and ``passage_edits``, sorted by pair.

    ``passage_edits`` lists each passage's ``a_start``, ``b_start`` and JSON ``edits`` in ``a`` order,
    so :class:`Direction` can read them in the source's order once it knows which side that is.

    Example:
        >>> t = pa.table({"a_id": ["x", "x"], "a_start": [50, 0], "b_id": ["y", "y"], "b_start": [0, 40],
        ...               "words": [20, 30], "edits": ["[]", '[["a", "b"]]']})
        >>> r = pair_passages(t).to_pylist()[0]
        >>> r["shared_words"], [p["a_start"] for p in r["passage_edits"]]
        (50, [0, 50])
    """
    cols = ["a_id", "b_id", "a_start", "b_start", "words", "edits"]
    t = alignments.select(cols).sort_by([(c, "ascending") for c in cols[:4]])
    if t.num_rows == 0:
        return pa.table({"a_id": pa.array([], pa.string()), "b_id": pa.array([], pa.string()),
                         "shared_words": pa.array([], pa.int64()), "passage_edits": pa.array([], PASSAGE_EDITS)})
    a = t["a_id"].to_numpy(zero_copy_only=False)
    b = t["b_id"].to_numpy(zero_copy_only=False)
    first = np.flatnonzero(np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])])
    words = t["words"].to_numpy(zero_copy_only=False).astype(np.int64)
    passages = pa.StructArray.from_arrays(
        [t[c].combine_chunks() for c in ("a_start", "b_start", "edits")], names=["a_start", "b_start", "edits"])
    offsets = pa.array(np.r_[first, t.num_rows].astype(np.int32))
    return pa.table({"a_id": t["a_id"].take(first), "b_id": t["b_id"].take(first),
                     "shared_words": pa.array(np.add.reduceat(words, first), pa.int64()),
                     "passage_edits": pa.ListArray.from_arrays(offsets, passages).cast(PASSAGE_EDITS)})


# A wire dateline ("PARIS (Reuters) -") or reporting credit marks a text as the wire's own copy.
# Mentions such as "told Reuters" or photo credits ("via AFP") say nothing about direction.
WIRE_CREDIT = re.compile(
    r"^[A-Z][A-Za-z .,'-]{0,40}\((?:Reuters|AP|AFP|dpa|UPI|Bloomberg)\)\s*[-–—]"
    r"|^\s*(?:Reporting by|Additional reporting by|Writing by)\b",
    re.MULTILINE,
)


def direction(a: dict, b: dict, shared_words: int) -> tuple[str, str, str]:
    """``(source_id, copy_id, reason)`` for two articles sharing ``shared_words`` aligned words.

    Evidence in order: an earlier publication date; a wire credit carried by exactly one of them
    (the credited text stands for the original); higher containment (the text made mostly of
    shared words is the excerpt). Ties stay ``undecided`` with a deterministic order.
    """
    da, db = a.get("published") or "", b.get("published") or ""
    if da and db and da[:10] != db[:10]:
        return (a["article_id"], b["article_id"], "date") if da < db else (b["article_id"], a["article_id"], "date")
    ca, cb = bool(WIRE_CREDIT.search(a["text"])), bool(WIRE_CREDIT.search(b["text"]))
    if ca != cb:
        return (a["article_id"], b["article_id"], "credit") if ca else (b["article_id"], a["article_id"], "credit")
    na, nb = max(len(tokenize(a["text"])), 1), max(len(tokenize(b["text"])), 1)
    cont_a, cont_b = shared_words / na, shared_words / nb
    if abs(cont_a - cont_b) >= 0.15:
        return (b["article_id"], a["article_id"], "containment") if cont_a > cont_b else (
            a["article_id"], b["article_id"], "containment")
    first, second = sorted((a["article_id"], b["article_id"]))
    return first, second, "undecided"


@dataclass
class Direction:
    """Map step over aligned pairs joined with both articles -> directed reuse edges with the copier's edits."""

    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("a_id", "a_text", "a_published", "b_id", "b_text", "b_published",
                                        "shared_words", "passage_edits")
    output_schema: ClassVar[pa.Schema] = model.REUSE_EDGE

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = []
        for r in batch.select(list(self.reads)).to_pylist():
            a = {"article_id": r["a_id"], "text": r["a_text"] or "", "published": r["a_published"]}
            b = {"article_id": r["b_id"], "text": r["b_text"] or "", "published": r["b_published"]}
            source, copy, reason = direction(a, b, r["shared_words"])
            copy_text = a["text"] if copy == a["article_id"] else b["text"]
            rows.append({
                "source_id": source, "copy_id": copy, "shared_words": r["shared_words"],
                "containment": round(r["shared_words"] / max(1, len(tokenize(copy_text))), 4), "reason": reason,
                "edits": edge_edits(r["passage_edits"] or [], r["a_id"], source),
            })
        return pa.Table.from_pylist(rows, schema=self.output_schema)

"""Passage alignment of candidate pairs, and the direction of reuse.

Alignment is verification after candidates, so it is vectorised: both texts are tokenised once
(word hashes, with name variants folded: "U.S."/"US", "ISIL"/"Islamic State"), exact word
``seed_words``-grams shared by both are found by sorting, seeds on one diagonal are merged into
exact runs, and runs are chained when they advance together in both texts with gaps of at most
``max_gap_words`` (substitutions, insertions and dropped words become gaps). Each chain long
enough is a passage with character offsets in both articles; the gaps and alias differences
inside it are listed as edits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pyarrow as pa

from .. import model
from ..config import AlignConfig
from ..textutil import Tokens, ngram_hashes, tokenize

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


def seed_matches(ha: np.ndarray, hb: np.ndarray, k: int, max_repeat: int = MAX_REPEAT) -> tuple[np.ndarray, np.ndarray]:
    """``(i, j)`` arrays where the word ``k``-grams at ``a[i]`` and ``b[j]`` are equal.

    ``ha``/``hb`` are word hashes; k-grams repeated more than ``max_repeat`` times in either text
    are skipped (stock phrases anchor nothing).
    """
    ga, gb = ngram_hashes(ha, k), ngram_hashes(hb, k)
    empty = np.zeros(0, dtype=np.int64)
    if ga.size == 0 or gb.size == 0:
        return empty, empty
    ob = np.argsort(gb, kind="stable")
    sb = gb[ob]
    lo, hi = np.searchsorted(sb, ga, "left"), np.searchsorted(sb, ga, "right")
    cb = hi - lo
    hit = cb > 0
    if not hit.any():
        return empty, empty
    ua, inv, ca = np.unique(ga, return_inverse=True, return_counts=True)
    hit &= (cb <= max_repeat) & (ca[inv] <= max_repeat)
    i = np.repeat(np.flatnonzero(hit), cb[hit])
    offs = np.arange(i.size) - np.repeat(np.cumsum(cb[hit]) - cb[hit], cb[hit])
    j = ob[lo[i] + offs]
    return i.astype(np.int64), j.astype(np.int64)


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
            best.append(r)
    return chains


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
    wa, wb = ta.words, tb.words
    out = []
    prev = None
    for a0, a1, b0, b1 in c:
        if prev is not None:
            ea, eb = wa[prev[1]:a0] if a0 > prev[1] else [], wb[prev[3]:b0] if b0 > prev[3] else []
            if ea or eb:
                out.append((" ".join(ea), " ".join(eb)))
        for x, y in zip(range(max(a0, prev[1] if prev else a0), a1), range(max(b0, prev[3] if prev else b0), b1)):
            if wa[x] != wb[y]:  # same hash, different surface: a folded alias ("isil" / "islamic state")
                out.append((wa[x], wb[y]))
        prev = (a0, a1, b0, b1)
    return tuple(out)


def align_tokens(ta: Tokens, tb: Tokens, cfg: AlignConfig) -> list[Passage]:
    """Aligned passages of two tokenised texts, in order of their position in ``a``."""
    k = cfg.seed_words
    i, j = seed_matches(ta.hashes, tb.hashes, k)
    if i.size * k < cfg.min_passage_words:  # not enough seeds to cover a passage
        return []
    passages = []
    for c in chain(runs(i, j, k), cfg.max_gap_words):
        matched = _matched(c, ta.hashes, tb.hashes)
        if matched < cfg.min_passage_words:
            continue
        i0, i1 = c[0][0], c[-1][1]
        j0, j1 = min(r[2] for r in c), max(r[3] for r in c)
        score = matched / max(i1 - i0, j1 - j0)
        passages.append(Passage(
            int(ta.starts[i0]), int(ta.ends[i1 - 1]), int(tb.starts[j0]), int(tb.ends[j1 - 1]),
            matched, round(score, 4), _edits(ta, tb, c),
        ))
    return passages


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
    """Map step over candidate pairs joined with both texts -> aligned passages."""

    config: AlignConfig = field(default_factory=AlignConfig)
    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("a_id", "a_text", "b_id", "b_text")
    output_schema: ClassVar[pa.Schema] = model.ALIGNMENT

    def __call__(self, batch: pa.Table) -> pa.Table:
        cols: dict[str, list] = {name: [] for name in self.output_schema.names}
        tokens: dict[str, Tokens] = {}  # each text is tokenised once per batch
        for a_id, a_text, b_id, b_text in zip(*(batch[c].to_pylist() for c in self.reads)):
            ta = tokens.get(a_id) or tokens.setdefault(a_id, tokenize(a_text or "", aliases=ALIASES))
            tb = tokens.get(b_id) or tokens.setdefault(b_id, tokenize(b_text or "", aliases=ALIASES))
            for p in align_tokens(ta, tb, self.config):
                for name, value in (("a_id", a_id), ("a_start", p.a_start), ("a_end", p.a_end), ("b_id", b_id),
                                    ("b_start", p.b_start), ("b_end", p.b_end), ("score", p.score),
                                    ("words", p.matched_words), ("edits", json.dumps(p.edits))):
                    cols[name].append(value)
        return pa.table(cols, schema=self.output_schema)


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
    """Map step over aligned pairs joined with both articles -> directed reuse edges."""

    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("a_id", "a_text", "a_published", "b_id", "b_text", "b_published",
                                        "shared_words")
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
            })
        return pa.Table.from_pylist(rows, schema=self.output_schema)

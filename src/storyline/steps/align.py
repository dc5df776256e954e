"""Passage alignment of candidate pairs, and the direction of reuse.

Alignment chains exact word ``seed_words``-grams that advance together in both texts, tolerating
gaps of up to ``max_gap_words`` (edits such as "U.S."/"US" are already normalised away by the
tokenizer; substitutions, insertions and drops become gaps). Each chain long enough is a passage
with character offsets in both articles. Word substitutions inside a passage are listed as edits.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from .. import model
from ..config import AlignConfig
from ..textutil import Tokens, tokenize


@dataclass(frozen=True, slots=True)
class Passage:
    """One aligned passage: word index ranges and character offsets in both texts."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    matched_words: int
    score: float
    edits: tuple[tuple[str, str], ...]


def _seed_index(words: list[str], k: int) -> dict[tuple[str, ...], list[int]]:
    index: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(words) - k + 1):
        index.setdefault(tuple(words[i : i + k]), []).append(i)
    return index


def seed_matches(a: list[str], b: list[str], k: int, max_repeat: int = 4) -> list[tuple[int, int]]:
    """``(i, j)`` where ``a[i:i+k] == b[j:j+k]``, skipping k-grams repeated too often in either."""
    index_b = _seed_index(b, k)
    index_a = _seed_index(a, k)
    matches = []
    for gram, pos_a in index_a.items():
        pos_b = index_b.get(gram)
        if pos_b and len(pos_a) <= max_repeat and len(pos_b) <= max_repeat:
            matches.extend((i, j) for i in pos_a for j in pos_b)
    matches.sort()
    return matches


def chain(matches: list[tuple[int, int]], k: int, max_gap: int) -> list[list[tuple[int, int]]]:
    """Group seed matches into chains that advance in both texts with gaps <= ``max_gap``."""
    chains: list[list[tuple[int, int]]] = []
    active: list[list[tuple[int, int]]] = []
    for i, j in matches:
        active = [c for c in active if i - c[-1][0] <= k + max_gap]
        best = None
        for c in active:
            li, lj = c[-1]
            di, dj = i - li, j - lj
            if 0 < di <= k + max_gap and 0 < dj <= k + max_gap and abs(di - dj) <= max_gap:
                if best is None or abs(di - dj) < abs(i - best[-1][0] - (j - best[-1][1])):
                    best = c
        if best is None:
            best = []
            chains.append(best)
            active.append(best)
        best.append((i, j))
    return chains


def _covered(chain_: list[tuple[int, int]], k: int) -> int:
    covered, last_end = 0, -1
    for i, _ in chain_:
        covered += min(k, i + k - max(i, last_end))
        last_end = max(last_end, i + k)
    return covered


def _edits(a: list[str], b: list[str]) -> tuple[tuple[str, str], ...]:
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    out = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op != "equal":
            out.append((" ".join(a[i1:i2]), " ".join(b[j1:j2])))
    return tuple(out)


def align_tokens(ta: Tokens, tb: Tokens, cfg: AlignConfig) -> list[Passage]:
    """Aligned passages of two tokenised texts, in order of their position in ``a``."""
    k = cfg.seed_words
    passages = []
    for c in chain(seed_matches(ta.words, tb.words, k), k, cfg.max_gap_words):
        matched = _covered(c, k)
        if matched < cfg.min_passage_words:
            continue
        i0, i1 = c[0][0], max(i for i, _ in c) + k
        j0, j1 = min(j for _, j in c), max(j for _, j in c) + k
        score = matched / max(i1 - i0, j1 - j0)
        passages.append(
            Passage(
                int(ta.starts[i0]), int(ta.ends[i1 - 1]), int(tb.starts[j0]), int(tb.ends[j1 - 1]),
                matched, round(score, 4), _edits(ta.words[i0:i1], tb.words[j0:j1]),
            )
        )
    return passages


def align(a: str, b: str, cfg: AlignConfig | None = None) -> list[Passage]:
    """Aligned passages of texts ``a`` and ``b``.

    Example:
        >>> p = align("one two three four five six seven", "zero one two three four five six seven",
        ...           AlignConfig(seed_words=3, min_passage_words=5))
        >>> (p[0].a_start, p[0].b_start)
        (0, 5)
    """
    return align_tokens(tokenize(a), tokenize(b), cfg or AlignConfig())


@dataclass
class Align:
    """Map step over candidate pairs joined with both texts -> aligned passages."""

    config: AlignConfig = field(default_factory=AlignConfig)
    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("a_id", "a_text", "b_id", "b_text")
    output_schema: ClassVar[pa.Schema] = model.ALIGNMENT

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = []
        cols = [batch[c].to_pylist() for c in self.reads]
        for a_id, a_text, b_id, b_text in zip(*cols):
            for p in align(a_text or "", b_text or "", self.config):
                rows.append({
                    "a_id": a_id, "a_start": p.a_start, "a_end": p.a_end,
                    "b_id": b_id, "b_start": p.b_start, "b_end": p.b_end,
                    "score": p.score, "words": p.matched_words, "edits": json.dumps(p.edits),
                })
        return pa.Table.from_pylist(rows, schema=self.output_schema)


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

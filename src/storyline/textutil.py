"""Word tokens with character offsets, shared by fingerprinting, alignment and comparison.

Tokens are normalised so that small editorial changes do not break matches: case is folded and
inner dots/apostrophes are dropped ("U.S." and "US" are both ``us``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import xxhash

# A word, optionally with inner dots or apostrophes ("U.S", "don't"); hyphens split words.
_WORD = re.compile(r"\w+(?:[.'’]\w+)*")
_STRIP = str.maketrans("", "", ".'’")


@dataclass(frozen=True, slots=True)
class Tokens:
    """Normalised words of a text and their ``[start, end)`` character offsets."""

    words: list[str]
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.words)


def tokenize(text: str) -> Tokens:
    """Split ``text`` into normalised words with offsets."""
    words, starts, ends = [], [], []
    for m in _WORD.finditer(text):
        words.append(m.group().translate(_STRIP).lower())
        starts.append(m.start())
        ends.append(m.end())
    return Tokens(words, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64))


def hash32(s: str) -> int:
    """A stable 32-bit hash of a string."""
    return xxhash.xxh32_intdigest(s.encode("utf-8"))


def ngram_hashes(words: list[str], n: int) -> np.ndarray:
    """Stable 32-bit hashes of every word ``n``-gram (empty when there are fewer than ``n`` words)."""
    if len(words) < n:
        return np.zeros(0, dtype=np.uint64)
    return np.fromiter(
        (hash32(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)),
        dtype=np.uint64,
        count=len(words) - n + 1,
    )


def paragraphs(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` spans of the non-blank paragraphs of ``text`` (blank-line or line separated)."""
    spans = []
    for m in re.finditer(r"[^\n]+", text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


# End punctuation, optional closing quote/bracket, then space before a capital or opening quote.
_SENT_END = re.compile(r"(?<=[.!?\"'”’)])\s+(?=[\"'“‘(]?[A-Z0-9])")


def sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Approximate sentence spans inside ``text[start:end]`` (paragraph breaks always split)."""
    end = len(text) if end is None else end
    spans = []
    for ps, pe in paragraphs(text[start:end]):
        ps, pe = ps + start, pe + start
        cur = ps
        for m in _SENT_END.finditer(text, ps, pe):
            if m.start() > cur:
                spans.append((cur, m.start()))
            cur = m.end()
        if pe > cur:
            spans.append((cur, pe))
    return spans

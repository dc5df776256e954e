"""Word tokens with character offsets, shared by fingerprinting, alignment and comparison.

Tokens are normalised so that small editorial changes do not break matches: case is folded and
inner dots/apostrophes are dropped ("U.S." and "US" are both ``us``). With ``aliases=True`` a few
common name variants are folded too ("Islamic State"/"ISIL"/"Daesh" -> ``isis``, "United States"
-> ``us``), so alignment does not break on them.

Tokenising is one compiled pass (numba) over the text's code points: word characters are found
with a lookup table built from Python's own Unicode rules, and each word gets a 64-bit polynomial
hash of its lowered characters, so no Python code runs per word. Word strings are only built when
:attr:`Tokens.words` is asked for.

Also compiled here, for clustering's stored terms: sklearn's ``HashingVectorizer`` word counts and
``FeatureHasher`` string counts, to the bit (:func:`hashed_word_counts`, :func:`hashed_strings`), and
the regex character classes (:func:`char_classes`) that compiled stand-ins of regexes read UTF-8 with.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numba
import numpy as np
import pyarrow as pa
import scipy.sparse as sp
import xxhash

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import HashingVectorizer

__all__ = ["ALIAS_CANON", "CHAR_DECIMAL", "CHAR_SPACE", "CHAR_WORD", "Tokens", "char_classes", "decode_utf8", "fold_aliases",
           "WordHasher", "english_stop_words", "hash32", "hashed_strings", "hashed_word_counts", "is_in", "mix64", "murmurhash3_32", "ngram_hashes", "paragraphs",
           "prev_char", "sentences", "tokenize", "tokenize_many", "utf8_buffers", "utf8_strings", "word_hash"]

_STRIP = str.maketrans("", "", ".'’")
_BASE = 0x9E3779B97F4A7C15  # odd, so it has an inverse modulo 2**64
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser of every element (uint64 arithmetic wraps, as the mixer wants)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    """:func:`mix64` of one value, for the compiled kernels."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _tables() -> np.ndarray:
    """Lowered code point for every BMP character that ``\\w`` matches, 0 for the others."""
    chars = [chr(c) for c in range(65536)]
    low = [ord(lc) if ch.isalnum() or ch == "_" else 0
           for ch in chars for lc in [ch.lower() if len(ch.lower()) == 1 else ch]]
    return np.array(low, dtype=np.uint32)


_LOWER = _tables()  # a constant of Unicode itself, built once at import
with np.errstate(over="ignore"):
    _POW = np.concatenate(([np.uint64(1)], np.cumprod(np.full(255, _BASE, dtype=np.uint64), dtype=np.uint64)))


@numba.njit(cache=True, nogil=True)
def _lower_bmp(cp: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, int]:
    """Lowered code points (0 = not a word character) and how many lie outside the BMP (left 0)."""
    low = np.empty(cp.size, np.uint32)
    astral = 0
    for i in range(cp.size):
        c = cp[i]
        if c < 65536:
            low[i] = table[c]
        else:
            low[i] = 0
            astral += 1
    return low, astral


@numba.njit(cache=True, nogil=True)
def _word_spans(cp: np.ndarray, low: np.ndarray, pw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Words as regex ``\\w+(?:[.'’]\\w+)*``: starts, ends and the mixed polynomial hash of kept characters.

    A dot or apostrophe between two word characters joins them ("U.S", "don't") and is not hashed;
    the hash is mix64(sum((c + 1) * BASE**min(rank, 255))) over the word's kept lowered characters.
    """
    n = cp.size
    starts = np.empty(n // 2 + 1, np.int64)
    ends = np.empty(n // 2 + 1, np.int64)
    raw = np.empty(n // 2 + 1, np.uint64)
    w = 0
    i = 0
    while i < n:
        if low[i] == 0:
            i += 1
            continue
        s = i
        h = np.uint64(0)
        r = 0
        while True:
            while i < n and low[i] != 0:
                h += np.uint64(low[i] + 1) * pw[min(r, 255)]
                r += 1
                i += 1
            if i + 1 < n and (cp[i] == 46 or cp[i] == 39 or cp[i] == 0x2019) and low[i + 1] != 0:
                i += 1  # a joiner: the word goes on
                continue
            break
        starts[w] = s
        ends[w] = i
        raw[w] = _mix(h)
        w += 1
    return starts[:w].copy(), ends[:w].copy(), raw[:w].copy()


def _scan(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, ends, hashes)`` of the words of ``text`` (regex ``\\w+(?:[.'’]\\w+)*``)."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    low, astral = _lower_bmp(cp, _LOWER)
    if astral:  # rare (emoji, historic scripts): Python's own rules for those characters
        for i in np.flatnonzero(cp > 65535).tolist():
            ch = chr(int(cp[i]))
            low[i] = (ord(ch.lower()) if len(ch.lower()) == 1 else ord(ch)) if ch.isalnum() else 0
    return _word_spans(cp, low, _POW)


def word_hash(word: str) -> int:
    """The 64-bit hash :func:`tokenize` gives ``word`` (a single normalised word)."""
    h = _scan(word)[2]
    return int(h[0]) if h.size else 0


# Name variants folded when ``aliases=True``: multi-word phrases become one token.
ALIASES: dict[str, str] = {
    "united states": "us", "united states of america": "us", "usa": "us",
    "islamic state": "isis", "isil": "isis", "daesh": "isis", "islamic state of iraq and the levant": "isis",
    "united nations": "un", "united kingdom": "uk", "britain": "uk", "great britain": "uk",
    "european union": "eu", "per cent": "percent", "pct": "percent",
}


def _alias_table() -> list[tuple[np.ndarray, int]]:
    table = [(_scan(k)[2], word_hash(v)) for k, v in ALIASES.items()]
    return sorted(table, key=lambda t: -t[0].size)  # longest phrases first


_ALIAS_TABLE = _alias_table()  # derived from the constant ALIASES at import; never changes
ALIAS_CANON = np.unique(np.array([word_hash(v) for v in ALIASES.values()], dtype=np.uint64))
_ALIAS_FLAT = (np.concatenate([p for p, _ in _ALIAS_TABLE]),  # the table as arrays for the kernel
                np.cumsum([0] + [p.size for p, _ in _ALIAS_TABLE]).astype(np.int64),
                np.array([c for _, c in _ALIAS_TABLE], dtype=np.uint64))
_ALIAS_FIRST = np.unique(np.array([p[0] for p, _ in _ALIAS_TABLE], dtype=np.uint64))


@numba.njit(cache=True, nogil=True)
def is_in(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``np.isin(values, table)`` for a small sorted ``table``, without numpy's per-call setup."""
    out = np.zeros(values.size, np.bool_)
    if table.size == 0:
        return out
    for t in range(values.size):
        k = np.searchsorted(table, values[t])
        out[t] = k < table.size and table[k] == values[t]
    return out


def fold_aliases(starts: np.ndarray, ends: np.ndarray, hashes: np.ndarray,
            doc: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold :data:`ALIASES` in a token stream; a phrase becomes one token spanning its words.

    ``doc`` (one value per token) keeps phrases from running across documents of a batch.
    """
    # Only positions holding a phrase's first word can start a phrase: one pass finds them all.
    cand = np.flatnonzero(is_in(hashes, _ALIAS_FIRST))
    if cand.size == 0:
        return starts, ends, hashes
    hashes, ends = hashes.copy(), ends.copy()
    doc = np.zeros(0, np.int64) if doc is None else np.ascontiguousarray(doc, dtype=np.int64)
    alive = _fold(hashes, ends, doc, cand, *_ALIAS_FLAT)
    return starts[alive], ends[alive], hashes[alive]


@numba.njit(cache=True, nogil=True)
def _fold(hashes: np.ndarray, ends: np.ndarray, doc: np.ndarray, cand: np.ndarray, words: np.ndarray,
          offsets: np.ndarray, canon: np.ndarray) -> np.ndarray:
    """Fold phrases in place, longest first, each at its alive, same-text occurrences; the alive mask."""
    n = hashes.size
    alive = np.ones(n, np.bool_)
    for p in range(canon.size):
        m = offsets[p + 1] - offsets[p]
        for c in cand:
            if c + m > n or (doc.size and doc[c] != doc[c + m - 1]):
                continue
            ok = True
            for t in range(m):
                if hashes[c + t] != words[offsets[p] + t] or not alive[c + t]:
                    ok = False
                    break
            if ok:
                hashes[c] = canon[p]
                ends[c] = ends[c + m - 1]
                for t in range(1, m):
                    alive[c + t] = False
    return alive


class Tokens:
    """Normalised words of a text: ``[start, end)`` character offsets and 64-bit word hashes.

    ``words`` (the normalised strings) is built on first use.
    """

    __slots__ = ("_words", "ends", "hashes", "starts", "text")

    def __init__(self, text: str, starts: np.ndarray, ends: np.ndarray, hashes: np.ndarray) -> None:
        self.text, self.starts, self.ends, self.hashes = text, starts, ends, hashes
        self._words: list[str] | None = None

    @property
    def words(self) -> list[str]:
        """The normalised words (case-folded, inner dots and apostrophes dropped)."""
        if self._words is None:
            t = self.text
            self._words = [t[s:e].translate(_STRIP).lower() for s, e in zip(self.starts.tolist(), self.ends.tolist())]
        return self._words

    def word(self, i: int) -> str:
        """The ``i``-th normalised word, without building :attr:`words` for the whole text."""
        if self._words is not None:
            return self._words[i]
        return self.text[int(self.starts[i]):int(self.ends[i])].translate(_STRIP).lower()

    def __len__(self) -> int:
        return int(self.starts.size)


def tokenize(text: str, aliases: bool = False) -> Tokens:
    """Split ``text`` into normalised words with offsets (and fold name variants if ``aliases``).

    Example:
        >>> tokenize("The U.S. said").words
        ['the', 'us', 'said']
    """
    starts, ends, hashes = _scan(text)
    if aliases:
        starts, ends, hashes = fold_aliases(starts, ends, hashes)
    return Tokens(text, starts, ends, hashes)


def tokenize_many(texts: Sequence[str] | pa.Array | pa.ChunkedArray,
                  aliases: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Word hashes of many texts at once: ``(hashes, bounds)``; text ``i`` owns ``hashes[bounds[i]:bounds[i+1]]``.

    The same hashes as :func:`tokenize` gives each text alone, in one pass over the batch. An Arrow
    string array is read in place (its UTF-8 bytes, no Python strings); nulls count as empty texts.
    """
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        got = _scan_arrow(texts)
        if got is None:  # characters outside the BMP: Python's rules, via strings
            return tokenize_many([t or "" for t in texts.to_pylist()], aliases)
        hashes, doc, n = got
    else:
        joined = "\n".join(texts)  # "\n" is not a word character, so no word spans two texts
        starts, ends, hashes = _scan(joined)
        text_starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]], dtype=np.int64) if texts else np.zeros(0, np.int64)
        # Texts are few and words many: locate each text's first word, not each word's text.
        bounds = np.append(np.searchsorted(starts, text_starts), starts.size)
        doc, n = np.repeat(np.arange(len(texts)), np.diff(bounds)), len(texts)
    if aliases:
        pos = np.arange(hashes.size)  # fold_aliases moves offsets too; positions stand in for them here
        kept, _, hashes = fold_aliases(pos, pos, hashes, doc)
        doc = doc[kept]
    return hashes, np.searchsorted(doc, np.arange(n + 1))


def _scan_arrow(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(hashes, doc, n_texts)`` from an Arrow string array's UTF-8 buffer; None if a text leaves the BMP."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), 0
    buf, offs = utf8_buffers(texts)
    raw, doc, ok = _utf8_words(buf, offs, _LOWER, _POW)
    return (raw, doc, n) if ok else None


@numba.njit(cache=True, nogil=True, inline="always")
def _decode(buf: np.ndarray, p: int) -> tuple[int, int]:
    """The code point at byte ``p`` of valid UTF-8 and its length in bytes."""
    b0 = np.int64(buf[p])
    if b0 < 0x80:
        return b0, 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (np.int64(buf[p + 1]) & 0x3F), 2
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | ((np.int64(buf[p + 1]) & 0x3F) << 6) | (np.int64(buf[p + 2]) & 0x3F), 3
    return (((b0 & 0x07) << 18) | ((np.int64(buf[p + 1]) & 0x3F) << 12) | ((np.int64(buf[p + 2]) & 0x3F) << 6)
            | (np.int64(buf[p + 3]) & 0x3F)), 4


@numba.njit(cache=True, nogil=True)
def _utf8_words(buf: np.ndarray, offs: np.ndarray, table: np.ndarray,
                pw: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`_word_spans` over UTF-8 texts: raw word hashes, the text of each, and False on a non-BMP character."""
    size = (offs[-1] - offs[0] + offs.size) // 2 + 1  # a word takes a byte and a separator or a text's end
    raw = np.empty(size, np.uint64)
    doc = np.empty(size, np.int64)
    w = 0
    for d in range(offs.size - 1):
        p, end = offs[d], offs[d + 1]
        while p < end:
            c, nb = _decode(buf, p)
            if c >= 65536:
                return raw[:0], doc[:0], False
            if table[c] == 0:
                p += nb
                continue
            h = np.uint64(0)
            r = 0
            while True:
                while p < end:
                    c, nb = _decode(buf, p)
                    if c >= 65536:
                        return raw[:0], doc[:0], False
                    low = table[c]
                    if low == 0:
                        break
                    h += np.uint64(low + 1) * pw[min(r, 255)]
                    r += 1
                    p += nb
                if p < end and (c == 46 or c == 39 or c == 0x2019) and p + nb < end:
                    c2, nb2 = _decode(buf, p + nb)
                    if c2 >= 65536:
                        return raw[:0], doc[:0], False
                    if table[c2] != 0:
                        p += nb  # a joiner: the word goes on
                        continue
                break
            raw[w] = _mix(h)
            doc[w] = d
            w += 1
    return raw[:w].copy(), doc[:w].copy(), True


@numba.njit(cache=True, nogil=True)
def _roll(h: np.ndarray, n: int) -> np.ndarray:
    m = h.size - n + 1
    out = np.empty(m, np.uint64)
    for i in range(m):
        g = h[i]
        for t in range(1, n):
            g = _mix(g * np.uint64(0xD6E8FEB86659FD93) + h[i + t])
        out[i] = g
    return out


def ngram_hashes(words: Sequence[str] | np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of every word ``n``-gram (empty when there are fewer than ``n`` words).

    ``words`` is a list of normalised words or an array of word hashes from :func:`tokenize`.
    Each n-gram folds its words left to right: ``g = mix64(g * M + h[t])``.
    """
    h = np.asarray(words, dtype=np.uint64) if isinstance(words, np.ndarray) else _scan(" ".join(words))[2]
    if h.size < n:
        return np.zeros(0, dtype=np.uint64)
    return _roll(np.ascontiguousarray(h), n)


def hash32(s: str) -> int:
    """A stable 32-bit hash of a string."""
    return xxhash.xxh32_intdigest(s.encode("utf-8"))


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


# --- sklearn HashingVectorizer, compiled -------------------------------------------------------
# HashingVectorizer(analyzer="word") lower-cases a text (str.lower), takes the \w runs of two or more
# characters (token_pattern (?u)\b\w\w+\b), drops stop words and hashes each token's UTF-8 bytes with
# MurmurHash3 (x86, 32-bit, seed 0) to abs(h) % n_features. Its terms are stored, so the compiled
# version below must give the very same matrix; a text it cannot guarantee goes to sklearn itself.

_DOTTED_I = 0x130  # "İ".lower() is "i" + U+0307 (not \w): an "i" that ends its word
_SIGMA = 0x3A3  # "Σ".lower() is "ς" or "σ" depending on the letters around it: such texts go to sklearn


@functools.cache
def _term_table() -> np.ndarray:
    """``ord(ch.lower())`` of every code point whose lower case ``\\w`` matches, 0 for the others.

    Lower-casing never changes whether a character is ``\\w``; the two characters whose lower case
    is not one fixed character keep their own code point as a marker (:data:`_DOTTED_I`, :data:`_SIGMA`).
    Built on first use (0.1 s): it covers all of Unicode, so astral letters need no second path.
    """
    low = []
    for c in range(0x110000):
        lc = chr(c).lower()
        low.append(c if c in (_DOTTED_I, _SIGMA) else ord(lc) if lc.isalnum() or lc == "_" else 0)
    return np.array(low, dtype=np.uint32)


@numba.njit(cache=True, nogil=True, inline="always")
def _murmur_block(h: np.uint64, k: np.uint64) -> np.uint64:
    """MurmurHash3_x86_32 state ``h`` after the 4-byte little-endian block ``k`` (all in 32 bits)."""
    m = np.uint64(0xFFFFFFFF)
    k = (k * np.uint64(0xCC9E2D51)) & m
    k = ((k << np.uint64(15)) | (k >> np.uint64(17))) & m
    k = (k * np.uint64(0x1B873593)) & m
    h ^= k
    h = ((h << np.uint64(13)) | (h >> np.uint64(19))) & m
    return (h * np.uint64(5) + np.uint64(0xE6546B64)) & m


@numba.njit(cache=True, nogil=True, inline="always")
def _murmur_final(h: np.uint64, tail: np.uint64, n_tail: int, length: int) -> np.int64:
    """MurmurHash3_x86_32 of a key whose last ``n_tail`` (< 4) bytes are ``tail``: as a signed 32-bit value."""
    m = np.uint64(0xFFFFFFFF)
    if n_tail:
        k = (tail * np.uint64(0xCC9E2D51)) & m
        k = ((k << np.uint64(15)) | (k >> np.uint64(17))) & m
        h ^= (k * np.uint64(0x1B873593)) & m
    h ^= np.uint64(length)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & m
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & m
    h ^= h >> np.uint64(16)
    return np.int64(h) - np.int64(1 << 32) if h >= np.uint64(1 << 31) else np.int64(h)


@numba.njit(cache=True, nogil=True)
def murmurhash3_32(key: np.ndarray) -> int:
    """``sklearn.utils.murmurhash3_32(bytes(key), seed=0)`` (signed) of a uint8 array."""
    h = np.uint64(0)
    n = key.size
    for b in range(0, n - n % 4, 4):
        k = (np.uint64(key[b]) | (np.uint64(key[b + 1]) << np.uint64(8)) | (np.uint64(key[b + 2]) << np.uint64(16))
             | (np.uint64(key[b + 3]) << np.uint64(24)))
        h = _murmur_block(h, k)
    tail = np.uint64(0)
    for t in range(n % 4):
        tail |= np.uint64(key[n - n % 4 + t]) << np.uint64(8 * t)
    return _murmur_final(h, tail, n % 4, n)


@numba.njit(cache=True, nogil=True, inline="always")
def _hash_index(h: np.int64, n_features: int) -> int:
    """sklearn's column of a signed 32-bit hash (``abs(-2**31)`` is spelled out there, as here)."""
    if h == -(1 << 31):
        return (2147483647 - (n_features - 1)) % n_features
    return abs(h) % n_features


@numba.njit(cache=True, nogil=True, inline="always")
def _feed(h: np.uint64, k: np.uint64, nk: int, byte: int) -> tuple[np.uint64, np.uint64, int]:
    """Murmur state after one more key byte: ``k`` gathers ``nk`` bytes until a block is full."""
    k |= np.uint64(byte) << np.uint64(8 * nk)
    if nk == 3:
        return _murmur_block(h, k), np.uint64(0), 0
    return h, k, nk + 1


@numba.njit(cache=True, nogil=True)
def _radix_sort(a: np.ndarray, tmp: np.ndarray, bits: int) -> None:
    """Sort the non-negative ``bits``-bit integers ``a`` in place (LSD radix, 10 bits a pass; ``tmp`` as large).

    A text's few hundred columns sort 4x faster this way than with ``np.sort`` (numba's quicksort).
    """
    count = np.empty(1025, np.int64)
    src, dst = a, tmp
    passes = (bits + 9) // 10
    for shift in range(0, 10 * passes, 10):
        count[:] = 0
        for v in src:
            count[((v >> shift) & 1023) + 1] += 1
        for b in range(1024):
            count[b + 1] += count[b]
        for v in src:
            b = (v >> shift) & 1023
            dst[count[b]] = v
            count[b] += 1
        src, dst = dst, src
    if passes % 2:  # the sorted values ended in tmp
        a[:] = tmp


@numba.njit(cache=True, nogil=True, inline="always")
def _is_stop(buf: np.ndarray, start: int, length: int, sh: np.int64, table: np.ndarray, stop_slots: np.ndarray,
             stop_hash: np.ndarray, stop_bytes: np.ndarray, stop_len: np.ndarray) -> bool:
    """Whether the token at byte ``start``, ``length`` lowered ASCII characters with hash ``sh``, is a stop word."""
    mask = stop_slots.size - 1
    slot = sh & mask
    while stop_slots[slot] >= 0:
        s = stop_slots[slot]
        if stop_hash[s] == sh and stop_len[s] == length:
            q = start
            same = True
            for j in range(length):  # re-read the token: each character lowers to one ASCII byte
                c, nb = _decode(buf, q)
                q += nb
                low = table[c]
                if (0x69 if low == _DOTTED_I else low) != stop_bytes[s, j]:
                    same = False
                    break
            if same:
                return True
        slot = (slot + 1) & mask
    return False


@numba.njit(cache=True, nogil=True)
def _hashed_words(buf: np.ndarray, offs: np.ndarray, table: np.ndarray, n_features: int, stop_slots: np.ndarray,
                  stop_hash: np.ndarray, stop_bytes: np.ndarray,
                  stop_len: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """HashingVectorizer rows of UTF-8 texts: ``(indptr, indices, counts, fallback)``.

    Each row holds its distinct columns in increasing order with their token counts (what sklearn's
    ``sum_duplicates`` leaves). A text with a capital sigma is left empty and flagged in ``fallback``.
    Stop words are found by their murmur hash (``stop_slots``: an open-addressing table of indices into
    ``stop_hash``); a token is only dropped if its lowered bytes are the stop word's
    (``stop_bytes[i, :stop_len[i]]``), so a hash collision keeps it.
    """
    n_docs = offs.size - 1
    cap = (offs[-1] - offs[0]) // 2 + n_docs  # a token spans at least two bytes of its text
    indptr = np.zeros(n_docs + 1, np.int64)
    indices = np.empty(cap, np.int32)
    counts = np.empty(cap, np.float32)
    fallback = np.zeros(n_docs, np.bool_)
    seen = np.zeros(n_features, np.int32)  # a text's count per column; its distinct columns in cols
    longest = (np.max(offs[1:] - offs[:-1]) if n_docs else 0) // 2 + 1
    cols = np.empty(longest, np.int64)
    spare = np.empty(longest, np.int64)
    bits = max(1, int(np.ceil(np.log2(n_features))))
    max_stop = stop_len.max() if stop_len.size else 0
    w = 0
    for d in range(n_docs):
        p, end = offs[d], offs[d + 1]
        u = 0
        while p < end and not fallback[d]:
            if table[buf[p]] == 0 and buf[p] < 0x80:  # ASCII separators, the common case
                p += 1
                continue
            c, nb = _decode(buf, p)
            if table[c] == 0:
                p += nb
                continue
            start = p
            h = np.uint64(0)
            k = np.uint64(0)
            nk = 0  # bytes gathered in the block k
            length = 0  # bytes of the lowered token
            chars = 0
            lowered_ascii = True  # stop words are ASCII
            while p < end:
                if buf[p] < 0x80:
                    low = table[buf[p]]
                    if low == 0:
                        break
                    p += 1
                    h, k, nk = _feed(h, k, nk, low)
                    length += 1
                    chars += 1
                    continue
                c, nb = _decode(buf, p)
                low = table[c]
                if low == 0:
                    break
                if low == _SIGMA:
                    fallback[d] = True
                    break
                p += nb
                cp = 0x69 if low == _DOTTED_I else np.int64(low)
                lowered_ascii = lowered_ascii and cp < 0x80  # "K" (Kelvin) is "k"
                # the lowered character's UTF-8 bytes
                if cp < 0x80:
                    h, k, nk = _feed(h, k, nk, cp)
                    length += 1
                elif cp < 0x800:
                    h, k, nk = _feed(h, k, nk, 0xC0 | (cp >> 6))
                    h, k, nk = _feed(h, k, nk, 0x80 | (cp & 0x3F))
                    length += 2
                elif cp < 0x10000:
                    h, k, nk = _feed(h, k, nk, 0xE0 | (cp >> 12))
                    h, k, nk = _feed(h, k, nk, 0x80 | ((cp >> 6) & 0x3F))
                    h, k, nk = _feed(h, k, nk, 0x80 | (cp & 0x3F))
                    length += 3
                else:
                    h, k, nk = _feed(h, k, nk, 0xF0 | (cp >> 18))
                    h, k, nk = _feed(h, k, nk, 0x80 | ((cp >> 12) & 0x3F))
                    h, k, nk = _feed(h, k, nk, 0x80 | ((cp >> 6) & 0x3F))
                    h, k, nk = _feed(h, k, nk, 0x80 | (cp & 0x3F))
                    length += 4
                chars += 1
                if low == _DOTTED_I:
                    break  # the U+0307 after its "i" ends the word
            if fallback[d]:
                break
            if chars < 2:
                continue
            sh = _murmur_final(h, k, nk, length)
            if lowered_ascii and length <= max_stop and _is_stop(buf, start, length, sh, table, stop_slots, stop_hash,
                                                                 stop_bytes, stop_len):
                continue
            col = _hash_index(sh, n_features)
            if seen[col] == 0:
                cols[u] = col
                u += 1
            seen[col] += 1
        if fallback[d]:
            for j in range(u):
                seen[cols[j]] = 0
        elif u:
            _radix_sort(cols[:u], spare[:u], bits)
            for j in range(u):
                indices[w] = cols[j]
                counts[w] = seen[cols[j]]
                seen[cols[j]] = 0
                w += 1
        indptr[d + 1] = w
    return indptr, indices[:w].copy(), counts[:w].copy(), fallback


def utf8_buffers(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """``(data, offsets)`` of an Arrow string array, read in place; nulls are empty texts."""
    arr = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    if arr.null_count:
        arr = arr.fill_null("")
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    buf = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return buf, offs


# The HashingVectorizer settings the kernel reproduces (anything else goes to sklearn as a whole).
_PLAIN_WORDS = {"input": "content", "encoding": "utf-8", "decode_error": "strict", "strip_accents": None,
                "lowercase": True, "preprocessor": None, "tokenizer": None, "token_pattern": r"(?u)\b\w\w+\b",
                "ngram_range": (1, 1), "analyzer": "word", "binary": False, "norm": None, "alternate_sign": False}


@functools.cache
def _stop_tables(stop_words: frozenset[str] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The stop words for :func:`_hashed_words`: hash slots, murmur hashes, UTF-8 bytes (padded rows), lengths."""
    encoded = sorted(w.encode() for w in stop_words or ())
    hashes = np.array([murmurhash3_32(np.frombuffer(b, np.uint8)) for b in encoded], np.int64)
    raw = np.zeros((len(encoded), max([len(b) for b in encoded], default=1)), np.uint8)
    for i, b in enumerate(encoded):
        raw[i, :len(b)] = np.frombuffer(b, np.uint8)
    slots = np.full(4096, -1, np.int64)  # mostly empty, so a token that is no stop word costs one probe
    for i, h in enumerate(hashes.tolist()):
        slot = h & 4095
        while slots[slot] >= 0:
            slot = (slot + 1) & 4095
        slots[slot] = i
    return slots, hashes, raw, np.array([len(b) for b in encoded], np.int64)


@functools.cache
def english_stop_words() -> frozenset[str]:
    """sklearn's ``ENGLISH_STOP_WORDS``, loaded from its own module file without importing sklearn,
    whose package import costs ~100 MB in every process that hashes words (each pool worker)."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "feature_extraction" / "_stop_words.py"
        file_spec = importlib.util.spec_from_file_location("_storyline_sklearn_stop_words", path)
        if path.is_file() and file_spec is not None and file_spec.loader is not None:
            module = importlib.util.module_from_spec(file_spec)
            file_spec.loader.exec_module(module)
            words = getattr(module, "ENGLISH_STOP_WORDS", None)
            if isinstance(words, frozenset):
                return words
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # another layout: the import it is

    return ENGLISH_STOP_WORDS


@dataclass(frozen=True)
class WordHasher:
    """``HashingVectorizer(n_features, stop_words, alternate_sign=False, norm=None, dtype)`` with its other
    settings at their defaults (lowercased ``\\w\\w+`` words), as a spec: :func:`hashed_word_counts`
    makes its matrix without sklearn, which is imported only for a text the kernel hands over."""

    n_features: int
    stop_words: str | None = None  # "english" or None
    dtype: type = np.float32

    def stop_list(self) -> frozenset[str] | None:
        if self.stop_words is None:
            return None
        if self.stop_words != "english":
            raise ValueError(f"stop_words must be 'english' or None, not {self.stop_words!r}")
        return english_stop_words()

    def sklearn(self) -> HashingVectorizer:
        """The vectorizer itself (sklearn imported here, on first use)."""
        return _vectorizer(self)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """sklearn's matrix of ``texts`` (what :func:`hashed_word_counts` reproduces)."""
        return self.sklearn().transform(texts)


@functools.cache
def _vectorizer(words: WordHasher) -> HashingVectorizer:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=words.n_features, stop_words=words.stop_words, alternate_sign=False,
                             norm=None, dtype=words.dtype)


def hashed_word_counts(vectorizer: WordHasher | HashingVectorizer,
                       texts: pa.Array | pa.ChunkedArray) -> tuple[sp.csr_matrix, int]:
    """``vectorizer.transform(texts)`` from the Arrow texts' UTF-8 bytes, and how many texts sklearn did.

    The same CSR matrix (sorted, summed columns; nulls count as empty texts), about 9x cheaper. Texts
    the kernel cannot guarantee (a capital sigma) and vectorizers with other settings go to sklearn.
    """
    n = len(texts)
    if isinstance(vectorizer, WordHasher):  # plain by construction (and empty input is fine)
        plain, stop = True, vectorizer.stop_list()
    else:
        params = vectorizer.get_params()
        plain = n > 0 and all(params[k] == v for k, v in _PLAIN_WORDS.items())
        stop = vectorizer.get_stop_words() if plain else None
    if not plain or vectorizer.n_features > 2**31 - 1:
        return vectorizer.transform([t or "" for t in texts.to_pylist()]), n
    buf, offs = utf8_buffers(texts)
    indptr, indices, counts, fallback = _hashed_words(buf, offs, _term_table(), vectorizer.n_features,
                                                      *_stop_tables(None if stop is None else frozenset(stop)))
    redo = np.flatnonzero(fallback)
    if redo.size:  # sklearn's rows take the place of the kernel's empty ones
        got = vectorizer.transform([texts[int(i)].as_py() or "" for i in redo])
        rows = np.concatenate([np.repeat(np.arange(n), np.diff(indptr)), np.repeat(redo, np.diff(got.indptr))])
        order = np.argsort(rows, kind="stable")
        indices = np.concatenate([indices, got.indices.astype(np.int32)])[order]
        counts = np.concatenate([counts, got.data.astype(np.float32)])[order]
        indptr = np.searchsorted(rows[order], np.arange(n + 1))
    m = sp.csr_matrix((counts.astype(vectorizer.dtype), indices, indptr.astype(np.int32)), shape=(n, vectorizer.n_features))
    return m, int(redo.size)



@numba.njit(cache=True, nogil=True)
def _hashed_rows(buf: np.ndarray, offs: np.ndarray, rows: np.ndarray,
                 n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, counts)``: row ``r`` counts the columns of strings ``rows[r]:rows[r + 1]``, sorted."""
    indptr = np.zeros(rows.size, np.int64)
    indices = np.empty(offs.size - 1, np.int32)
    counts = np.empty(offs.size - 1, np.float32)
    w = 0
    for r in range(rows.size - 1):
        cols = np.empty(rows[r + 1] - rows[r], np.int64)
        for i in range(cols.size):
            j = rows[r] + i
            cols[i] = _hash_index(murmurhash3_32(buf[offs[j]:offs[j + 1]]), n_features)
        cols.sort()
        for i in range(cols.size):
            if i and cols[i] == cols[i - 1]:
                counts[w - 1] += 1
            else:
                indices[w] = cols[i]
                counts[w] = 1
                w += 1
        indptr[r + 1] = w
    return indptr, indices[:w].copy(), counts[:w].copy()


def hashed_strings(strings: pa.Array, rows: np.ndarray, n_features: int, dtype: type = np.float32) -> sp.csr_matrix:
    """``FeatureHasher(n_features, input_type="string", alternate_sign=False).transform``, compiled.

    Row ``r`` hashes ``strings[rows[r]:rows[r + 1]]`` (an Arrow string array, read in place); the same
    CSR matrix as sklearn's (sorted columns, duplicates summed).
    """
    buf, offs = utf8_buffers(strings)
    indptr, indices, counts = _hashed_rows(buf, offs, np.asarray(rows, np.int64), n_features)
    return sp.csr_matrix((counts.astype(dtype), indices, indptr.astype(np.int32)), shape=(len(rows) - 1, n_features))

# --- Regex character classes over UTF-8, for compiled stand-ins of regexes -----------------------
CHAR_WORD, CHAR_DECIMAL, CHAR_SPACE = 1, 2, 4  # re's \w, \d and \s (str.isalnum() or "_", isdecimal, isspace)
decode_utf8 = _decode  # (code point, byte length) at a byte of valid UTF-8, for other modules' kernels


@functools.cache
def char_classes() -> np.ndarray:
    """The :data:`CHAR_WORD` / :data:`CHAR_DECIMAL` / :data:`CHAR_SPACE` bits of every code point (built on first use)."""
    word = (_term_table() != 0).astype(np.uint8)  # lower-casing keeps \w, so the term table has it
    decimal = np.array([chr(c).isdecimal() for c in range(0x110000)], np.uint8)
    space = np.array([chr(c).isspace() for c in range(0x110000)], np.uint8)
    return word * CHAR_WORD | decimal * CHAR_DECIMAL | space * CHAR_SPACE


@numba.njit(cache=True, nogil=True)
def prev_char(buf: np.ndarray, lo: int, p: int) -> int:
    """The code point before byte ``p`` of valid UTF-8 text starting at ``lo`` (-1 at the start)."""
    if p <= lo:
        return -1
    q = p - 1
    while (buf[q] & 0xC0) == 0x80:  # continuation bytes
        q -= 1
    return _decode(buf, q)[0]


@numba.njit(cache=True, nogil=True)
def _gather(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(starts.size + 1, np.int32)
    for i in range(starts.size):
        offsets[i + 1] = offsets[i] + ends[i] - starts[i]
    data = np.empty(offsets[-1], np.uint8)
    for i in range(starts.size):
        data[offsets[i]:offsets[i + 1]] = buf[starts[i]:ends[i]]
    return data, offsets


def utf8_strings(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    """The strings at byte spans ``[starts[i], ends[i])`` of UTF-8 text, made in one go by Arrow."""
    data, offsets = _gather(buf, starts, ends)
    return pa.StringArray.from_buffers(starts.size, pa.py_buffer(offsets), pa.py_buffer(data)).to_pylist()

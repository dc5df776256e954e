"""Word tokens with character offsets, shared by fingerprinting, alignment and comparison.

Tokens are normalised so that small editorial changes do not break matches: case is folded and
inner dots/apostrophes are dropped ("U.S." and "US" are both ``us``). With ``aliases=True`` a few
common name variants are folded too ("Islamic State"/"ISIL"/"Daesh" -> ``isis``, "United States"
-> ``us``), so alignment does not break on them.

Tokenising is one compiled pass (numba) over the text's code points: word characters are found
with a lookup table built from Python's own Unicode rules, and each word gets a 64-bit polynomial
hash of its lowered characters, so no Python code runs per word. Word strings are only built when
:attr:`Tokens.words` is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numba
import numpy as np
import pyarrow as pa
import xxhash

__all__ = ["ALIAS_CANON", "Tokens", "fold_aliases", "hash32", "is_in", "mix64", "ngram_hashes", "paragraphs", "sentences", "tokenize",
           "tokenize_many", "word_hash"]

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
    arr = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    if arr.null_count:
        arr = arr.fill_null("")
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), 0
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, dtype=np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
    buf = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
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

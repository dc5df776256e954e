"""Fingerprints: MinHash LSH band keys (near-duplicates) and winnowed word n-grams (partial reuse).

Everything runs on a whole batch at once with numpy: words are hashed by the vectorised tokenizer
(:func:`storyline.textutil.tokenize_many`), n-gram hashes are rolled from word hashes, and no
Python code runs per word or per n-gram.

MinHash is one-permutation hashing with rotation densification (Li et al. 2012; Shrivastava & Li
2014): each shingle hash picks one of ``num_perm`` bins by its high bits and the bin keeps its
minimum; an empty bin borrows from the next non-empty bin to its right. The probability that two
signatures agree in a bin is the Jaccard similarity, as with ``num_perm`` separate hash functions,
at the cost of one hash per shingle instead of ``num_perm``. Winnowing (Schleimer et al. 2003)
keeps the minimum n-gram hash of every window, which guarantees that any shared run of
``winnow_window + gram_words - 1`` words yields a shared key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np
import pyarrow as pa

from .. import model
from ..config import FingerprintConfig
from ..textutil import _mix, mix64, ngram_hashes, tokenize_many

_MAX = np.uint64(np.iinfo(np.uint64).max)
_BAND_MUL = np.uint64(0x9FB21C651E98DF25)
ALIASES = True  # fold name variants ("ISIL"/"Islamic State") before hashing, as alignment does


def _seed(cfg: FingerprintConfig) -> np.uint64:
    return mix64(np.array([cfg.seed], dtype=np.uint64))[0]


def batch_ngrams(hashes: np.ndarray, bounds: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(gram_hashes, doc)``: every word ``n``-gram of a batch that lies inside one text, and its text."""
    grams = ngram_hashes(hashes, n)
    if grams.size == 0:
        return grams, np.zeros(0, dtype=np.int64)
    doc = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
    ok = doc[: grams.size] == doc[n - 1 :]  # the n-gram's first and last words are in the same text
    return grams[ok], doc[: grams.size][ok]


def minhash(shingles: np.ndarray, num_perm: int, seed: np.uint64 | int = 0,
            doc: np.ndarray | None = None, docs: int = 1) -> np.ndarray:
    """One-permutation MinHash signatures, shape ``(docs, num_perm)``; all-max rows for no shingles.

    Args:
        shingles: shingle hashes (uint64), of one text or of many with ``doc`` saying whose.
        num_perm: signature length (bins).
        seed: changes the hash function.
        doc: text index per shingle (default: all of text 0).
        docs: number of texts.

    Example:
        >>> a = minhash(np.arange(1000, dtype=np.uint64), 128)
        >>> a.shape
        (1, 128)
    """
    doc = np.zeros(shingles.size, dtype=np.int64) if doc is None else doc
    sig = np.full(docs * num_perm, _MAX, dtype=np.uint64)
    _bin_min(sig, np.ascontiguousarray(shingles, dtype=np.uint64), np.ascontiguousarray(doc, dtype=np.int64),
             np.uint64(seed), num_perm)
    return _densify(sig.reshape(docs, num_perm))


@numba.njit(cache=True, nogil=True)
def _bin_min(sig: np.ndarray, shingles: np.ndarray, doc: np.ndarray, seed: np.uint64, num_perm: int) -> None:
    """One pass: each shingle's hash picks a bin by its high bits and the bin keeps the minimum value."""
    for t in range(shingles.size):
        h = _mix(shingles[t] ^ seed)
        b = ((h >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)  # unbiased bin from the high bits
        idx = doc[t] * num_perm + np.int64(b)
        v = _mix(h)
        if v < sig[idx]:
            sig[idx] = v


def _densify(sig: np.ndarray) -> np.ndarray:
    """Fill each empty bin from the next non-empty bin to its right (circularly), salted by distance."""
    empty = sig == _MAX
    if not empty.any():
        return sig
    d, p = sig.shape
    idx = np.where(np.tile(empty, 2), 2 * p, np.arange(2 * p)[None, :])
    nxt = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1][:, :p]  # next filled position (in 2p)
    full = nxt < 2 * p
    rows = np.repeat(np.arange(d), p).reshape(d, p)
    src = sig[rows, np.where(full, nxt % p, 0)]
    dist = (nxt - np.arange(p)[None, :]).astype(np.uint64)
    filled = np.where(empty & full, mix64(src + dist), sig)
    return filled


def band_keys(signatures: np.ndarray, bands: int) -> np.ndarray:
    """One 64-bit key per LSH band, shape ``(docs, bands)``: a hash of the band index and its rows."""
    d, p = signatures.shape
    rows = signatures.reshape(d, bands, p // bands)
    key = np.broadcast_to(np.arange(bands, dtype=np.uint64)[None, :], (d, bands)).copy()
    with np.errstate(over="ignore"):
        for r in range(rows.shape[2]):
            key = mix64(key * _BAND_MUL + rows[:, :, r])
    return key


@numba.njit(cache=True, nogil=True)
def _winnow(hashes: np.ndarray, doc: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    n = hashes.size
    keys = np.empty(n, np.uint64)
    owner = np.empty(n, np.int64)
    out = 0
    s = 0
    while s < n:
        e = s
        while e < n and doc[e] == doc[s]:
            e += 1
        first = out
        if e - s < window:  # a text shorter than the window keeps its minimum
            m = hashes[s]
            for i in range(s + 1, e):
                m = min(m, hashes[i])
            keys[out] = m
            out += 1
        else:
            prev = np.uint64(0)
            for i in range(s, e - window + 1):
                m = hashes[i]
                for t in range(i + 1, i + window):
                    m = min(m, hashes[t])
                if i == s or m != prev:  # neighbouring windows mostly share their minimum
                    keys[out] = m
                    out += 1
                prev = m
        seg = np.sort(keys[first:out])
        out = first
        for t in range(seg.size):
            if t == 0 or seg[t] != seg[t - 1]:
                keys[out] = seg[t]
                owner[out] = doc[s]
                out += 1
        s = e
    return keys[:out].copy(), owner[:out].copy()


def winnow(hashes: np.ndarray, window: int, doc: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """Winnowing: the distinct minima of every ``window`` consecutive hashes of a text.

    With ``doc`` (text index per hash, non-decreasing), windows stay inside texts and the result
    is ``(keys, doc)`` sorted by text then key; a text shorter than the window keeps its minimum.
    """
    single = doc is None
    doc = np.zeros(hashes.size, dtype=np.int64) if doc is None else doc
    keys, owner = _winnow(np.ascontiguousarray(hashes, dtype=np.uint64), np.ascontiguousarray(doc, dtype=np.int64),
                          window)
    return keys if single else (keys, owner)


@numba.njit(cache=True, nogil=True)
def _fingerprint_docs(hashes: np.ndarray, bounds: np.ndarray, n: int, num_perm: int, bands: int,
                      seed: np.uint64, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fingerprint_batch`'s rows when the shingles are the indexed n-grams, text by text in one pass.

    Per text: its n-gram hashes (``textutil._roll``), the MinHash bins (:func:`_bin_min`), the
    densified signature (:func:`_densify`), its band keys (:func:`band_keys`), then its winnowed
    keys (:func:`_winnow`); no batch-wide intermediate arrays and no sort by text at the end.
    """
    docs = bounds.size - 1
    total, longest = 0, 0
    for d in range(docs):
        m = bounds[d + 1] - bounds[d] - n + 1
        if m > 0:
            total += bands + m
            longest = max(longest, m)
    doc = np.empty(total, np.int64)
    is_band = np.empty(total, np.bool_)
    key = np.empty(total, np.uint64)
    grams = np.empty(longest, np.uint64)
    minima = np.empty(longest, np.uint64)
    ahead = np.empty(longest, np.uint64)
    behind = np.empty(longest, np.uint64)
    sig = np.empty(num_perm, np.uint64)
    dense = np.empty(num_perm, np.uint64)
    rows = num_perm // bands
    out = 0
    for d in range(docs):
        s = bounds[d]
        m = bounds[d + 1] - s - n + 1
        if m <= 0:
            continue  # too short to shingle: no rows
        sig[:] = _MAX
        for i in range(m):
            g = hashes[s + i]
            for t in range(1, n):
                g = _mix(g * np.uint64(0xD6E8FEB86659FD93) + hashes[s + i + t])
            grams[i] = g
            h = _mix(g ^ seed)
            b = ((h >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)
            v = _mix(h)
            if v < sig[b]:
                sig[b] = v
        # Densify: an empty bin takes the next non-empty bin to its right (circularly), salted by distance.
        nxt = 2 * num_perm
        for j in range(2 * num_perm - 1, -1, -1):
            if sig[j % num_perm] != _MAX:
                nxt = j
            if j < num_perm:
                dense[j] = sig[j] if sig[j] != _MAX else _mix(sig[nxt % num_perm] + np.uint64(nxt - j))
        for b in range(bands):
            k = np.uint64(b)
            for r in range(rows):
                k = _mix(k * _BAND_MUL + dense[b * rows + r])
            doc[out] = d
            is_band[out] = True
            key[out] = k
            out += 1
        # Winnow: the distinct minima of every window of n-grams (the minimum alone in a shorter text).
        count = 0
        if m < window:
            v = grams[0]
            for i in range(1, m):
                v = min(v, grams[i])
            minima[0] = v
            count = 1
        else:
            # Window minima in O(m) (van Herk / Gil-Werman): minima from each block start (ahead) and to
            # each block end (behind); a window spans at most two blocks.
            for i in range(m):
                ahead[i] = grams[i] if i % window == 0 else min(ahead[i - 1], grams[i])
            for i in range(m - 1, -1, -1):
                behind[i] = grams[i] if i == m - 1 or (i + 1) % window == 0 else min(behind[i + 1], grams[i])
            prev = np.uint64(0)
            for i in range(m - window + 1):
                v = min(behind[i], ahead[i + window - 1])
                if i == 0 or v != prev:
                    minima[count] = v
                    count += 1
                prev = v
        seg = np.sort(minima[:count])
        for t in range(count):
            if t == 0 or seg[t] != seg[t - 1]:
                doc[out] = d
                is_band[out] = False
                key[out] = seg[t]
                out += 1
    return doc[:out].copy(), is_band[:out].copy(), key[:out].copy()


def fingerprint_batch(texts: Sequence[str] | pa.Array | pa.ChunkedArray,
                      cfg: FingerprintConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(doc, is_band, key)`` rows for a batch of texts (strings or an Arrow string array, null = empty);
    texts under ``shingle_words`` words get none."""
    hashes, bounds = tokenize_many(texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else list(texts),
                                   aliases=ALIASES)
    if cfg.gram_words == cfg.shingle_words:  # the default: one fused pass
        return _fingerprint_docs(np.ascontiguousarray(hashes, dtype=np.uint64),
                                 np.ascontiguousarray(bounds, dtype=np.int64), cfg.shingle_words, cfg.num_perm,
                                 cfg.bands, _seed(cfg), cfg.winnow_window)
    return _fingerprint_rows(hashes, bounds, len(texts), cfg)


def _fingerprint_rows(hashes: np.ndarray, bounds: np.ndarray, n_docs: int,
                      cfg: FingerprintConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fingerprint_batch`'s rows from word hashes, step by step over the whole batch (any config)."""
    shingles, sdoc = batch_ngrams(hashes, bounds, cfg.shingle_words)
    has = np.zeros(n_docs, dtype=bool)
    has[sdoc] = True
    sig = minhash(shingles, cfg.num_perm, _seed(cfg), sdoc, n_docs)
    bands = band_keys(sig, cfg.bands)[has]
    band_doc = np.repeat(np.flatnonzero(has), cfg.bands)
    grams, gdoc = (shingles, sdoc) if cfg.gram_words == cfg.shingle_words else batch_ngrams(hashes, bounds, cfg.gram_words)
    grams, gdoc = winnow(grams, cfg.winnow_window, gdoc)
    keep = has[gdoc]
    doc = np.concatenate((band_doc, gdoc[keep]))
    is_band = np.concatenate((np.ones(band_doc.size, bool), np.zeros(int(keep.sum()), bool)))
    key = np.concatenate((bands.ravel(), grams[keep]))
    order = np.argsort(doc, kind="stable")
    return doc[order], is_band[order], key[order]


def fingerprint(text: str, cfg: FingerprintConfig) -> tuple[list[int], list[int]]:
    """``(band_keys, gram_keys)`` of one text; both empty for texts too short to shingle.

    Example:
        >>> bands, grams = fingerprint(" ".join(f"w{i}" for i in range(50)), FingerprintConfig())
        >>> len(bands)
        32
    """
    _, is_band, key = fingerprint_batch([text], cfg)
    return key[is_band].tolist(), key[~is_band].tolist()


@dataclass
class Fingerprint:
    """Map step: articles -> one row per (article, key)."""

    config: FingerprintConfig = field(default_factory=FingerprintConfig)
    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "text")
    output_schema: ClassVar[pa.Schema] = model.BAND_KEY

    def __call__(self, batch: pa.Table) -> pa.Table:
        doc, is_band, key = fingerprint_batch(batch["text"], self.config)  # read in place, no Python strings
        kinds = pa.DictionaryArray.from_arrays(pa.array(is_band.astype(np.int8) ^ 1), pa.array(["band", "gram"]))
        return pa.table(
            {"article_id": batch["article_id"].combine_chunks().take(pa.array(doc)).cast(pa.string()),
             "kind": kinds.cast(pa.string()), "band_key": pa.array(key, pa.uint64())},
            schema=self.output_schema,
        )

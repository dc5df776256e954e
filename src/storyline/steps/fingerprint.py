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


def fingerprint_batch(texts: Sequence[str] | pa.Array | pa.ChunkedArray,
                      cfg: FingerprintConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(doc, is_band, key)`` rows for a batch of texts (strings or an Arrow string array, null = empty);
    texts under ``shingle_words`` words get none."""
    hashes, bounds = tokenize_many(texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else list(texts),
                                   aliases=ALIASES)
    n_docs = len(texts)
    shingles, sdoc = batch_ngrams(hashes, bounds, cfg.shingle_words)
    has = np.zeros(n_docs, dtype=bool)
    has[sdoc] = True
    sig = minhash(shingles, cfg.num_perm, _seed(cfg), sdoc, n_docs)
    bands = band_keys(sig, cfg.bands)[has]
    band_doc = np.repeat(np.flatnonzero(has), cfg.bands)
    # The default config shingles and indexes the same n-grams: hash them once.
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

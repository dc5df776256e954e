"""Fingerprints: MinHash LSH band keys (near-duplicates) and winnowed word n-grams (partial reuse).

MinHash is vectorised with numpy: each of the ``num_perm`` hash functions is the splitmix64
finaliser of the shingle hash xor a per-function seed (linear hashes of small inputs are nearly
monotonic and make poor MinHash permutations). Winnowing (Schleimer et al. 2003) keeps the minimum n-gram hash of every window, which
guarantees that any shared run of ``winnow_window + gram_words - 1`` words yields a shared key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pyarrow as pa
import xxhash

from .. import model
from ..config import FingerprintConfig
from ..textutil import ngram_hashes, tokenize

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def permutations(cfg: FingerprintConfig) -> np.ndarray:
    """The ``num_perm`` 64-bit seeds of the hash functions, fixed by ``cfg.seed``."""
    return np.random.default_rng(cfg.seed).integers(0, 2**63, size=cfg.num_perm, dtype=np.uint64)


def _mix(z: np.ndarray) -> np.ndarray:
    # splitmix64 finaliser; uint64 arithmetic wraps, which is what the mixer wants.
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def minhash(shingles: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The MinHash signature of a set of shingle hashes (all-max when empty)."""
    if shingles.size == 0:
        return np.full(seeds.size, np.iinfo(np.uint64).max, dtype=np.uint64)
    return _mix(shingles.astype(np.uint64)[:, None] ^ seeds[None, :]).min(axis=0)


def band_keys(signature: np.ndarray, bands: int) -> list[int]:
    """One 64-bit key per LSH band: the hash of the band index and its rows."""
    rows = signature.size // bands
    return [
        xxhash.xxh64_intdigest(signature[i * rows : (i + 1) * rows].tobytes(), seed=i) for i in range(bands)
    ]


def winnow(hashes: np.ndarray, window: int) -> np.ndarray:
    """Winnowing: the distinct minima of every ``window`` consecutive hashes."""
    if hashes.size == 0:
        return hashes
    if hashes.size <= window:
        return np.unique(hashes.min(keepdims=True))
    views = np.lib.stride_tricks.sliding_window_view(hashes, window)
    return np.unique(views.min(axis=1))


def fingerprint(text: str, cfg: FingerprintConfig, seeds: np.ndarray) -> tuple[list[int], list[int]]:
    """``(band_keys, gram_keys)`` of one text; both empty for texts too short to shingle."""
    words = tokenize(text).words
    if len(words) < cfg.shingle_words:
        return [], []
    shingles = np.unique(ngram_hashes(words, cfg.shingle_words))
    bands = band_keys(minhash(shingles, seeds), cfg.bands)
    grams = winnow(ngram_hashes(words, cfg.gram_words), cfg.winnow_window).tolist()
    return bands, grams


@dataclass
class Fingerprint:
    """Map step: articles -> one row per (article, key)."""

    config: FingerprintConfig = field(default_factory=FingerprintConfig)
    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "text")
    output_schema: ClassVar[pa.Schema] = model.BAND_KEY

    def __call__(self, batch: pa.Table) -> pa.Table:
        seeds = permutations(self.config)
        ids, kinds, keys = [], [], []
        for aid, text in zip(batch["article_id"].to_pylist(), batch["text"].to_pylist()):
            bands, grams = fingerprint(text or "", self.config, seeds)
            for kind, values in (("band", bands), ("gram", grams)):
                ids.extend([aid] * len(values))
                kinds.extend([kind] * len(values))
                keys.extend(values)
        return pa.table(
            {"article_id": pa.array(ids, pa.string()), "kind": pa.array(kinds, pa.string()),
             "band_key": pa.array(keys, pa.uint64())},
            schema=self.output_schema,
        )

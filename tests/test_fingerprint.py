from __future__ import annotations

import numpy as np
import pytest

from storyline.config import FingerprintConfig
from storyline.errors import ConfigError
from storyline.steps.fingerprint import (Fingerprint, _fingerprint_rows, fingerprint, fingerprint_batch, minhash,
                                         winnow)
from storyline.textutil import ngram_hashes, tokenize, tokenize_many
from tests.conftest import make_articles

TEXT = " ".join(f"word{i}" for i in range(300))


def test_fingerprint_identical_texts_share_all_keys():
    cfg = FingerprintConfig()
    assert fingerprint(TEXT, cfg) == fingerprint(TEXT, cfg)


@pytest.mark.parametrize("lo,hi,expected", [(500, 1500, 1 / 3), (0, 1000, 1.0), (100, 1000, 0.9), (1000, 2000, 0.0)])
def test_fingerprint_minhash_estimates_jaccard(lo, hi, expected):
    x = np.arange(0, 1000, dtype=np.uint64)
    y = np.arange(lo, hi, dtype=np.uint64)
    est = float(np.mean(minhash(x, 256, 1) == minhash(y, 256, 1)))
    assert abs(est - expected) < 0.1


def test_fingerprint_minhash_small_sets_fill_every_bin():
    sig = minhash(np.arange(10, dtype=np.uint64), 128, 1)
    assert (sig != np.iinfo(np.uint64).max).all()


def test_fingerprint_winnowing_guarantees_shared_passage():
    cfg = FingerprintConfig()
    shared = " ".join(f"shared{i}" for i in range(cfg.winnow_window + cfg.gram_words - 1))
    a = tokenize("alpha beta gamma " * 20 + shared + " delta epsilon " * 20).words
    b = tokenize("one two three four " * 30 + shared + " five six " * 30).words
    ka = set(winnow(ngram_hashes(a, cfg.gram_words), cfg.winnow_window).tolist())
    kb = set(winnow(ngram_hashes(b, cfg.gram_words), cfg.winnow_window).tolist())
    assert ka & kb


def test_fingerprint_short_text_has_no_keys():
    assert fingerprint("too short", FingerprintConfig()) == ([], [])


def test_fingerprint_batch_equals_one_by_one():
    cfg = FingerprintConfig()
    texts = [TEXT, "", "too short", "The U.S. and the Islamic State. " * 20, TEXT[500:]]
    doc, is_band, key = fingerprint_batch(texts, cfg)
    for i, t in enumerate(texts):
        bands, grams = fingerprint(t, cfg)
        assert key[(doc == i) & is_band].tolist() == bands
        assert sorted(key[(doc == i) & ~is_band].tolist()) == sorted(grams)


@pytest.mark.parametrize("a,b", [("The U.S. army said", "the US Army said"),
                                 ("fighters of the Islamic State group", "fighters of the ISIL group")])
def test_fingerprint_aliases_share_keys(a, b):
    cfg = FingerprintConfig(shingle_words=3, gram_words=3, winnow_window=1)
    assert set(fingerprint(a, cfg)[1]) == set(fingerprint(b, cfg)[1])


def test_fingerprint_step_rows_per_key():
    out = Fingerprint()(make_articles(TEXT, "tiny"))
    assert set(out["article_id"].to_pylist()) == {"a0"}
    assert out["kind"].to_pylist().count("band") == FingerprintConfig().bands


def test_fingerprint_config_fails_fast_with_fix():
    with pytest.raises(ConfigError, match="multiple of bands"):
        FingerprintConfig(num_perm=100, bands=32)


@pytest.mark.parametrize("window", [1, 2, 3, 5, 8, 13, 16])
@pytest.mark.parametrize("sizes", [(16,), (17, 0, 3, 100), (5, 40)])
def test_fingerprint_winnow_matches_sliding_windows(window, sizes):
    rng = np.random.default_rng(window * sum(sizes))
    texts = [rng.integers(0, 50, size=n, dtype=np.uint64) for n in sizes]  # few values: repeated minima
    doc = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)]).astype(np.int64)
    keys, owner = winnow(np.concatenate(texts), window, doc)
    for i, x in enumerate(texts):
        expected = (set(np.lib.stride_tricks.sliding_window_view(x, window).min(axis=1).tolist())
                    if x.size >= window else set(x.min(keepdims=True).tolist()) if x.size else set())
        got = keys[owner == i].tolist()
        assert got == sorted(expected)


def test_fingerprint_tokenize_many_bounds_with_empty_texts():
    texts = ["", "The United States said", "", "ISIL", "x y", ""]
    hashes, bounds = tokenize_many(texts, aliases=True)
    assert bounds.size == len(texts) + 1
    for i, t in enumerate(texts):
        assert np.array_equal(hashes[bounds[i]:bounds[i + 1]], tokenize(t, aliases=True).hashes)


@pytest.mark.parametrize("shingle,window,num_perm,bands", [(5, 8, 128, 32), (3, 1, 64, 16), (3, 3, 16, 16), (4, 13, 32, 8)])
def test_fingerprint_fused_pass_equals_step_by_step(shingle, window, num_perm, bands):
    # Texts of 0 to 80 words from a small vocabulary (repeated n-grams and minima, empty MinHash bins),
    # shorter and longer than the shingle and the window.
    rng = np.random.default_rng(shingle * window)
    texts = [" ".join(f"w{k}" for k in rng.integers(0, 12, size=n)) for n in [0, 1, 4, 5, 7, 12, 13, 80, 2, 30]]
    cfg = FingerprintConfig(shingle_words=shingle, gram_words=shingle, winnow_window=window, num_perm=num_perm,
                            bands=bands)
    hashes, bounds = tokenize_many(texts, aliases=True)
    fused = fingerprint_batch(texts, cfg)
    stepwise = _fingerprint_rows(hashes, bounds, len(texts), cfg)
    assert fused[2].size > 0
    for got, want in zip(fused, stepwise):
        assert got.dtype == want.dtype and np.array_equal(got, want)

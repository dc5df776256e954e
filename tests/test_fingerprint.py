from __future__ import annotations

import numpy as np
import pytest

from storyline.config import FingerprintConfig
from storyline.errors import ConfigError
from storyline.steps.fingerprint import Fingerprint, fingerprint, minhash, permutations, winnow
from storyline.textutil import ngram_hashes, tokenize
from tests.conftest import make_articles

TEXT = " ".join(f"word{i}" for i in range(300))


def test_fingerprint_identical_texts_share_all_keys():
    cfg = FingerprintConfig()
    perms = permutations(cfg)
    assert fingerprint(TEXT, cfg, perms) == fingerprint(TEXT, cfg, perms)


def test_fingerprint_minhash_estimates_jaccard():
    cfg = FingerprintConfig(num_perm=256, bands=32)
    seeds = permutations(cfg)
    x = np.arange(0, 1000, dtype=np.uint64)
    y = np.arange(500, 1500, dtype=np.uint64)  # Jaccard 1/3
    est = float(np.mean(minhash(x, seeds) == minhash(y, seeds)))
    assert abs(est - 1 / 3) < 0.1


def test_fingerprint_winnowing_guarantees_shared_passage():
    cfg = FingerprintConfig()
    shared = " ".join(f"shared{i}" for i in range(cfg.winnow_window + cfg.gram_words - 1))
    a = tokenize("alpha beta gamma " * 20 + shared + " delta epsilon " * 20).words
    b = tokenize("one two three four " * 30 + shared + " five six " * 30).words
    ka = set(winnow(ngram_hashes(a, cfg.gram_words), cfg.winnow_window).tolist())
    kb = set(winnow(ngram_hashes(b, cfg.gram_words), cfg.winnow_window).tolist())
    assert ka & kb


def test_fingerprint_short_text_has_no_keys():
    cfg = FingerprintConfig()
    assert fingerprint("too short", cfg, permutations(cfg)) == ([], [])


def test_fingerprint_step_rows_per_key():
    out = Fingerprint()(make_articles(TEXT, "tiny"))
    assert set(out["article_id"].to_pylist()) == {"a0"}
    assert out["kind"].to_pylist().count("band") == FingerprintConfig().bands


def test_fingerprint_config_fails_fast_with_fix():
    with pytest.raises(ConfigError, match="multiple of bands"):
        FingerprintConfig(num_perm=100, bands=32)

"""The compiled tokenizer against a plain-Python reference of the same definition."""

import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from storyline.textutil import mix64, tokenize, tokenize_many, word_hash

_WORD = re.compile(r"\w+(?:[.'’]\w+)*")
_BASE = 0x9E3779B97F4A7C15


def _reference(text: str) -> list[tuple[int, int, int]]:
    """Words by regex; hash = mix64(sum((lowered code point + 1) * BASE**min(rank, 255)))."""
    out = []
    for m in _WORD.finditer(text):
        kept = [c for c in m.group() if c not in ".'’"]
        low = [ord(c.lower()) if len(c.lower()) == 1 else ord(c) for c in kept]
        raw = sum((c + 1) * pow(_BASE, min(r, 255), 2**64) for r, c in enumerate(low)) % 2**64
        out.append((m.start(), m.end(), int(mix64(np.array([raw], np.uint64))[0])))
    return out


TEXT = st.text(alphabet=st.sampled_from(list("ab Z9_.'’-\n\t,") + ["é", "İ", "ß", "Σ", "中", "😀", "\u0301", "\U00010400"]),
               max_size=200)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_tokenize_matches_regex_reference(text):
    t = tokenize(text)
    assert list(zip(t.starts.tolist(), t.ends.tolist(), t.hashes.tolist())) == _reference(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXT, max_size=6))
def test_tokenize_many_equals_one_by_one(texts):
    hashes, bounds = tokenize_many(texts)
    for i, text in enumerate(texts):
        assert hashes[bounds[i]:bounds[i + 1]].tolist() == tokenize(text).hashes.tolist()


def test_long_words_and_joiners():
    long = "x" * 400
    text = f"U.S. don’t a..b {long} end."
    assert tokenize(text).words == ["us", "dont", "a", "b", long, "end"]
    assert tokenize(text).hashes[0] == word_hash("us")
    assert [h for _, _, h in _reference(text)] == tokenize(text).hashes.tolist()


def _fold_reference(words: list[str]) -> list[str]:
    """Name variants folded longest phrase first, left to right, on words not yet folded."""
    from storyline.textutil import ALIASES
    toks = [[w] for w in words]  # a folded phrase keeps its position, later words become []
    for phrase, canon in sorted(ALIASES.items(), key=lambda kv: -len(kv[0].split())):
        p = phrase.split()
        for i in range(len(toks) - len(p) + 1):
            if all(len(toks[i + t]) == 1 and toks[i + t][0] == p[t] for t in range(len(p))):
                toks[i] = [canon, "folded"]
                for t in range(1, len(p)):
                    toks[i + t] = []
    return [t[0] for t in toks if t]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("united states of america islamic state iraq and the levant isil usa "
                                "per cent great britain european union nations kingdom x".split()), max_size=30))
def test_fold_aliases_matches_reference(words):
    got = [int(h) for h in tokenize(" ".join(words), aliases=True).hashes]
    assert got == [word_hash(w) for w in _fold_reference(words)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=6), st.integers(0, 3), st.booleans())
def test_tokenize_many_reads_arrow_utf8_like_strings(texts, cut, aliases):
    import pyarrow as pa

    arr = pa.array(texts, pa.string()).slice(min(cut, len(texts)))  # a sliced array has a buffer offset
    want = tokenize_many([t or "" for t in arr.to_pylist()], aliases=aliases)
    got = tokenize_many(arr, aliases=aliases)
    assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()

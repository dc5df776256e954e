"""The compiled featurisation of clustering against sklearn and the regexes it stands in for.

Stored terms tables must stay valid, so every compiled path is held to the exact output of the
library or regex it replaces, on strings chosen to break a tokenizer (case mappings that change
length or depend on context, astral letters, digits and underscores in words, apostrophes).
"""

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.utils import murmurhash3_32 as sk_murmur

from storyline.steps import cluster
from storyline.textutil import WordHasher, english_stop_words, hashed_strings, hashed_word_counts, murmurhash3_32

_PIECES = (list("abzAZ09_ -.,'’\n\t\u00a0\u3000$%—") +
           ["é", "É", "ß", "ẞ", "İ", "ı", "I", "Σ", "σ", "ς", "中文", "日本語", "한국어", "\u0301", "\u0307", "\U00010400",
            "\U0001F600", "\U0001D400", "٣", "０", "²", "½", "Ⅻ", "ǅ", "ﬁ", "\u212a", "\u2126", "\u200d", "\x1c", "\x85",
            "1,000.50", "2019", "3.", "The", "Mr", "de", "al", "also", "van", "von", "bin", "Jean-Pierre", "O'Neil",
            "McDonald’s", "keep", "thus", "rhxwcaa", "New York", "don't", "foo_bar", "x2"])
TEXT = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)

# Hard cases by hand: "İ" lowers to two characters, "\u212a" (Kelvin) to ASCII "k" (so "\u212aeep" is the
# stop word "keep"), "Σ" by context (the text goes to sklearn); "rhxwcaa" has the murmur hash of "thus".
HARD = ["İstanbul İİ xİy", "ΟΔΟΣ ΣΑΣ Σ", "\u212aeep \u212aEEP keep", "rhxwcaa thus", "ǅemal ﬁnal straße STRASSE",
        "𐐀𐐁𐐂 \U0001D400\U0001D401 😀😀", "foo_bar x2 2x __ _a", "don't rock’n’roll l'été", "Ⅻ ½² ٣٣ ０１",
        "中文字 日本語", "", "a", "A B", "THE The the"]


def _same(got, want) -> None:
    """Equal CSR matrices, down to dtypes and the order of columns within a row."""
    assert got.shape == want.shape and got.dtype == want.dtype
    for a, b in ((got.indptr, want.indptr), (got.indices, want.indices), (got.data, want.data)):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_murmurhash_is_sklearns():
    rng = np.random.default_rng(8)
    for n in list(range(12)) + [31, 64, 257]:
        key = rng.integers(0, 256, n, dtype=np.uint8)
        assert murmurhash3_32(key) == sk_murmur(key.tobytes(), seed=0)


@pytest.mark.parametrize("text", HARD)
def test_hashed_word_counts_is_the_vectorizers_matrix_on_hard_cases(text):
    texts = [text, text.upper(), text.lower(), f"x {text} y"]
    got, redo = hashed_word_counts(cluster._WORDS, pa.array(texts))
    _same(got, cluster._WORDS.transform(texts))
    assert redo == (sum("Σ" in t for t in texts))  # only a capital sigma needs sklearn


def test_hashed_word_counts_keeps_stop_word_order_and_nulls():
    texts = pa.array(["Keep the keep, thus rhxwcaa RHXWCAA.", None, "ΟΔΟΣ keep", "words words words"])
    got, redo = hashed_word_counts(cluster._WORDS, texts)
    want = cluster._WORDS.transform(["Keep the keep, thus rhxwcaa RHXWCAA.", "", "ΟΔΟΣ keep", "words words words"])
    _same(got, want)
    assert redo == 1
    assert got[0].nnz == 1 and got[0].data[0] == 2  # only the hash twin of "thus", twice
    assert got[3].data.tolist() == [3.0]


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=5))
def test_hashed_word_counts_matches_sklearn(texts):
    _same(hashed_word_counts(cluster._WORDS, pa.array(texts))[0], cluster._WORDS.transform(texts))


def test_word_hasher_is_the_vectorizer_it_names_without_importing_sklearn():
    assert english_stop_words() == ENGLISH_STOP_WORDS
    assert cluster._WORDS.sklearn().get_params() == HashingVectorizer(
        n_features=cluster.N_FEATURES, stop_words="english", alternate_sign=False, norm=None, dtype=np.float32).get_params()
    texts = ["Foo bar foo the", "Baz ΟΔΟΣ", " ".join(f"w{i}" for i in range(3000))]
    for words in (WordHasher(2**10), WordHasher(1000, "english", np.float64)):
        got, redo = hashed_word_counts(words, pa.array(texts))
        _same(got, words.sklearn().transform(texts))
        assert redo == 1  # the capital sigma
    empty, redo = hashed_word_counts(cluster._WORDS, pa.array([], pa.string()))  # sklearn raises on no texts
    assert empty.shape == (0, cluster.N_FEATURES) and empty.dtype == np.float32 and redo == 0
    with pytest.raises(ValueError, match="stop_words"):
        hashed_word_counts(WordHasher(2**10, "german"), pa.array(texts))
    # Pool workers import every step; sklearn alone would add ~100 MB to each.
    code = "import sys, storyline.pipeline, storyline.steps; print(sorted(m for m in sys.modules if m.startswith('sklearn')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_hashed_word_counts_hands_other_settings_to_sklearn():
    texts = ["Foo bar foo", "Baz"]
    other = HashingVectorizer(n_features=2**10, alternate_sign=False, norm=None, ngram_range=(1, 2))
    got, redo = hashed_word_counts(other, pa.array(texts))
    _same(got, other.transform(texts))
    assert redo == 2
    for n in (1000, 2**10, 2**21):  # one, two and three radix passes; not a power of two
        plain = HashingVectorizer(n_features=n, alternate_sign=False, norm=None, stop_words=None)
        many = texts + [" ".join(f"w{i}" for i in range(3000))]
        got, redo = hashed_word_counts(plain, pa.array(many))
        _same(got, plain.transform(many))
        assert redo == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(TEXT, max_size=6), min_size=1, max_size=5))
def test_hashed_strings_is_the_feature_hashers_matrix(rows):
    flat = pa.array([s for row in rows for s in row], pa.string())
    bounds = np.cumsum([0] + [len(row) for row in rows])
    want = FeatureHasher(n_features=2**20, input_type="string", alternate_sign=False, dtype=np.float32).transform(rows)
    _same(hashed_strings(flat, bounds, 2**20), want.tocsr())


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4))
def test_compiled_name_and_figure_spans_find_the_regex_matches(texts):
    arr = pa.array(texts, pa.string())
    assert cluster._matches(arr, cluster._name_spans, *cluster._PARTICLE_TABLE) == [set(cluster._PROPER.findall(t)) for t in texts]
    assert cluster._matches(arr, cluster._figure_spans) == [set(cluster._FIGURE.findall(t)) for t in texts]


def test_name_spans_follow_the_regex_quirks():
    text = "Smith also left. Jean-Pierre van Dam\nde Boer said Mr O'Neil’s aide. xY Zed Osama bin Laden, Carl binary"
    got = cluster._matches(pa.array([text]), cluster._name_spans, *cluster._PARTICLE_TABLE)[0]
    assert got == set(cluster._PROPER.findall(text))
    assert got >= {"Smith al", "Jean-Pierre van Dam\nde Boer", "Zed Osama bin Laden", "Carl bin"}


def _sklearn_terms(titles: list, bodies: list) -> pa.Table:
    """The terms table as the regexes and sklearn alone make it (how stored tables were made)."""
    titles, bodies = [t or "" for t in titles], [b or "" for b in bodies]
    names = [sorted(cluster.proper_nouns(f"{t}\n{b}")) for t, b in zip(titles, bodies)]
    ents = HashingVectorizer(n_features=cluster.N_FEATURES, alternate_sign=False, norm=None, analyzer=lambda x: x,
                             dtype=np.float32)
    cols = {"article_id": pa.array([str(i) for i in range(len(titles))])}
    for rep, m in zip(cluster.REPS, (cluster._WORDS.transform(bodies), cluster._WORDS.transform(titles),
                                     ents.transform(names))):
        cols[f"{rep}_idx"] = cluster._list_column(m, m.indices.astype(np.int32))
        cols[f"{rep}_n"] = cluster._list_column(m, np.minimum(m.data, 65535).astype(np.uint16))
    cols["figures"] = pa.array([sorted(cluster.figures(b)) for b in bodies], pa.list_(pa.string()))
    return pa.table(cols, schema=cluster.Terms.output_schema)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.none() | TEXT, st.none() | TEXT), min_size=1, max_size=6))
def test_terms_table_is_the_sklearn_and_regex_table(rows):
    titles, bodies = [t for t, _ in rows], [b for _, b in rows]
    batch = pa.table({"article_id": [str(i) for i in range(len(rows))], "title": pa.array(titles, pa.string()),
                      "text": pa.array(bodies, pa.large_string())})
    got = cluster.Terms()(batch)
    want = _sklearn_terms(titles, bodies)
    assert got.equals(want), [c for c in want.column_names if not got[c].equals(want[c])]


def test_terms_table_on_hard_cases_and_word_counts_past_uint16():
    bodies = HARD + ["ab " * 70000 + "Rome Rome 12,5 1.5"]
    titles = list(reversed(bodies))
    batch = pa.table({"article_id": [str(i) for i in range(len(bodies))], "title": titles, "text": bodies})
    got = cluster.Terms()(batch)
    assert got.equals(_sklearn_terms(titles, bodies))
    assert 65535 in got["body_n"][len(bodies) - 1].as_py()  # 70000 "ab", capped as stored

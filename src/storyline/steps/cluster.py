"""Streaming same-story clustering (Miranda et al. 2018, "Multilingual Clustering of Streaming News").

Articles are taken one at a time in ``(published, article_id)`` order. Each is compared with the
*active* stories (a story is active while its last article is within ``window_days``) over several
representations: hashed TF-IDF of the body, of the title and of the proper nouns (no vocabulary to
fit; document frequencies counted over every article of the run), the best and the mean member
body cosine, the day gap, shared figures, the proper-noun overlap with the members and the mean
member cosine with squared IDF (rare, event-specific words; same-topic articles share only the
middling topic words). A logistic
model learned on basil-dev plus polnear distractors (``bench/clustering.py --fit``, cross-validated
by event) turns those into a merge probability; the article joins the best story when that
probability reaches the threshold, else it opens a new story. A long reuse link is decisive.

The step is incremental: articles already in ``previous`` keep their story and are only replayed
to rebuild the index state; new articles are assigned. Analyst corrections (merge, split) are
applied last, on every run (:mod:`storyline.corrections`).
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

from .. import corrections as corrections_mod
from .. import model
from ..config import ClusterConfig
from ..engines.base import release_memory
from ..textutil import (CHAR_DECIMAL, CHAR_SPACE, CHAR_WORD, WordHasher, char_classes, decode_utf8, hashed_strings, hashed_word_counts,
                        prev_char, utf8_buffers, utf8_strings)

# Defaults until ClusterConfig carries them (see the report of issue #5).
N_FEATURES = 2**20
MERGE_THRESHOLD = 0.2  # merge probability to join the best active story (CV by event: B3-F1 0.987, 0.48% distractors)
# Background documents in which no seen term occurs (body and names): in a small store a name shared
# by 3 of 4 articles is still rare news vocabulary, not a common word (fades as the store grows).
PRIOR_DOCS = 30
# The inverted index is rebuilt once the documents added since are this many, or 1/REBUILD_SHARE
# of those indexed: rebuilds cost O(1) per posting, and eviction lags the window by at most that share.
REBUILD_MIN, REBUILD_SHARE = 128, 4
FEATURES = ("cos_body", "cos_title", "cos_entities", "max_member_body", "mean_member_body", "gap",
            "shared_figures", "name_overlap", "rare_body")
LAZY = 6  # features from LAZY on are set-based and only computed for stories that could still win
MAX_LAZY = 64  # at most this many stories per article get them (keeps dense streams linear)
# Candidate search reads at most this many postings per article and representation, rarest terms
# first (reading every posting of the common terms would make each article cost the whole active
# window); the at most MAX_CANDIDATES stories with the best partial sums are then scored exactly
# from their members' vectors. Below that density nothing is skipped and scores are the plain
# inverted-index sums. 100k synthetic store: the same stories as with 20x the budget and 4x the candidates.
MAX_POSTINGS = 1000
MAX_CANDIDATES = 64
# A posting read costs about this many member entries scanned (random reads against a sequential scan).
POSTING_COST = 4
# Logistic merge model over FEATURES, learned on basil-dev + topic-dated polnear distractors (teacher-forced
# pairs, then pairs from the model's own stream); bench/clustering.py --fit prints these.
WEIGHTS = (3.178, 6.243, 2.086, 3.42, 5.627, -3.723, -0.042, 3.586, 5.349)
BIAS = -6.593

# Runs of capitalised words; sentence-initial function words are dropped by the stop list below.
_PROPER = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:[A-Z][\w’'-]+|al|bin|de|van|von))*")
_NOT_NAMES = frozenset(
    "The A An In On At For But And Or If As It He She They We I This That These Those His Her Their "
    "Its Our Mr Mrs Ms Dr There When While After Before Since Until Although Though Because Many Some "
    "Most One Two Three Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March "
    "April May June July August September October November December".split()
)
# Figures: numbers with at least two digits; bare years are too common to be evidence.
_FIGURE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
NO_DAY = -(2**62)  # story date unknown
_YEAR = re.compile(r"^(1[89]|20)\d\d$")


def proper_nouns(text: str) -> frozenset[str]:
    """Lower-cased proper-noun phrases of ``text`` (a cheap stand-in for named entities)."""
    return _names(set(_PROPER.findall(text)))


def _names(phrases: Iterable[str]) -> frozenset[str]:
    """:func:`proper_nouns` of distinct :data:`_PROPER` matches."""
    out = set()
    for phrase in phrases:
        words = phrase.split()
        if len(words) == 1:  # the common case: the phrase is its own word
            if words[0] not in _NOT_NAMES:
                out.add(words[0].lower())
            continue
        words = [w for w in words if w not in _NOT_NAMES]
        if words:
            out.add(" ".join(words).lower())
            out.update(w.lower() for w in words if len(w) > 3)
    return frozenset(out)


def figures(text: str) -> frozenset[str]:
    """Normalised numbers of ``text`` that can identify an event (``8.9``, ``13.75``, ``3000``)."""
    return _figure_values(set(_FIGURE.findall(text)))


def _figure_values(matches: Iterable[str]) -> frozenset[str]:
    """:func:`figures` of distinct :data:`_FIGURE` matches."""
    out = set()
    for match in matches:
        value = match.replace(",", "").rstrip(".")
        if len(value.replace(".", "")) >= 2 and not _YEAR.match(value):
            out.add(value)
    return frozenset(out)


# Compiled stand-ins of _PROPER and _FIGURE: the same matches, found in the UTF-8 bytes of a batch
# (as regexes they were 40% of Terms' CPU; tests/test_terms.py holds the kernels to them).
_PARTICLES = (b"al", b"bin", b"de", b"van", b"von")  # lower-case words _PROPER lets into a phrase


@numba.njit(cache=True, nogil=True)
def _name_word(buf: np.ndarray, p: int, end: int, cls: np.ndarray) -> int:
    """End of ``[A-Z][\\w’'-]+`` at byte ``p``, or -1."""
    if p >= end or not 65 <= buf[p] <= 90:  # [A-Z] is ASCII only
        return -1
    q = p + 1
    while q < end:
        c, nb = decode_utf8(buf, q)
        if not (cls[c] & CHAR_WORD or c == 0x2019 or c == 0x27 or c == 0x2D):  # \w ’ ' -
            break
        q += nb
    return q if q > p + 1 else -1


@numba.njit(cache=True, nogil=True)
def _particle(buf: np.ndarray, p: int, end: int, particles: np.ndarray, lengths: np.ndarray) -> int:
    """End of the first of ``particles`` (rows, ``lengths`` bytes) spelled at byte ``p``, or -1."""
    for i in range(lengths.size):
        n = lengths[i]
        if p + n <= end:
            j = 0
            while j < n and buf[p + j] == particles[i, j]:
                j += 1
            if j == n:
                return p + n
    return -1


@numba.njit(cache=True, nogil=True)
def _name_spans(buf: np.ndarray, offs: np.ndarray, cls: np.ndarray, particles: np.ndarray,
                lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_PROPER.findall`` of each text as byte spans: ``(text, start, end)`` of every match, in order."""
    cap = (offs[-1] - offs[0]) // 2 + 1  # a match takes two bytes at least
    doc, starts, ends = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64)
    m = 0
    for d in range(offs.size - 1):
        lo, end = offs[d], offs[d + 1]
        p = lo
        while p < end:
            q = _name_word(buf, p, end, cls) if 65 <= buf[p] <= 90 else -1  # a call per byte would cost 8x
            if q >= 0:
                before = prev_char(buf, lo, p)
                if before >= 0 and cls[before] & CHAR_WORD:  # no \b before the capital
                    q = -1
            if q < 0:
                p += 1
                while p < end and (buf[p] & 0xC0) == 0x80:  # to the next character
                    p += 1
                continue
            start, p = p, q
            while True:  # (?:\s+(?:[A-Z][\w’'-]+|al|bin|de|van|von))*
                r = p
                while r < end:
                    c, nb = decode_utf8(buf, r)
                    if not cls[c] & CHAR_SPACE:
                        break
                    r += nb
                if r == p:
                    break
                q = _name_word(buf, r, end, cls)
                if q < 0:
                    q = _particle(buf, r, end, particles, lengths)
                if q < 0:
                    break
                p = q
            doc[m], starts[m], ends[m] = d, start, p
            m += 1
    return doc[:m].copy(), starts[:m].copy(), ends[:m].copy()


@numba.njit(cache=True, nogil=True)
def _figure_spans(buf: np.ndarray, offs: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_FIGURE.findall`` of each text as byte spans: ``(text, start, end)`` of every match, in order."""
    cap = (offs[-1] - offs[0]) + 1
    doc, starts, ends = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64)
    m = 0
    for d in range(offs.size - 1):
        lo, end = offs[d], offs[d + 1]
        p = lo
        while p < end:
            c, nb = decode_utf8(buf, p)
            if not cls[c] & CHAR_DECIMAL:
                p += nb
                continue
            before = prev_char(buf, lo, p)  # (?<![\w.])
            if before >= 0 and (cls[before] & CHAR_WORD or before == 0x2E):
                p += nb
                continue
            start = p
            p += nb
            while p < end:  # [\d,]*
                c, nb = decode_utf8(buf, p)
                if not (cls[c] & CHAR_DECIMAL or c == 0x2C):
                    break
                p += nb
            if p + 1 < end and buf[p] == 0x2E:  # (?:\.\d+)?
                q = p + 1
                while q < end:
                    c, nb = decode_utf8(buf, q)
                    if not cls[c] & CHAR_DECIMAL:
                        break
                    q += nb
                if q > p + 1:
                    p = q
            doc[m], starts[m], ends[m] = d, start, p
            m += 1
    return doc[:m].copy(), starts[:m].copy(), ends[:m].copy()


def _matches(texts: pa.Array, spans: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]],
             *args: np.ndarray) -> list[set[str]]:
    """The distinct matches of each text, from a span kernel over the texts' UTF-8 bytes."""
    buf, offs = utf8_buffers(texts)
    doc, starts, ends = spans(buf, offs, char_classes(), *args)
    found = utf8_strings(buf, starts, ends)
    bounds = np.searchsorted(doc, np.arange(len(texts) + 1)).tolist()
    return [set(found[a:b]) for a, b in zip(bounds, bounds[1:])]


def _particle_table() -> tuple[np.ndarray, np.ndarray]:
    rows = np.zeros((len(_PARTICLES), max(map(len, _PARTICLES))), np.uint8)
    for i, word in enumerate(_PARTICLES):
        rows[i, :len(word)] = np.frombuffer(word, np.uint8)
    return rows, np.array([len(w) for w in _PARTICLES], np.int64)


_PARTICLE_TABLE = _particle_table()  # a constant: _PARTICLES as arrays for the kernel


# sklearn's hashed words: stored terms are its columns (the kernels of hashed_word_counts give the same).
_WORDS = WordHasher(N_FEATURES, stop_words="english", dtype=np.float32)


def _day(value: str | None) -> int | None:
    try:
        return date.fromisoformat((value or "")[:10]).toordinal()
    except ValueError:
        return None


@dataclass
class Doc:
    """One article's raw representations (term frequencies before IDF)."""

    article_id: str
    day: int | None
    tf: tuple[tuple[np.ndarray, np.ndarray], ...]  # (indices, sublinear tf) for body, title, entities
    figures: frozenset[str]  # proper nouns are the entity representation's terms, tf[2]


REPS = ("body", "title", "name")


def term_counts(titles: pa.Array, bodies: pa.Array) -> list[sp.csr_matrix]:
    """Hashed term counts of body, title and proper nouns, one row per article (nulls are empty texts).

    Words are :data:`_WORDS` rows made from the Arrow UTF-8 bytes
    (:func:`~storyline.textutil.hashed_word_counts`: the same matrix, ~9x cheaper than sklearn), and the
    proper nouns come from :func:`_name_spans`, the compiled ``_PROPER.findall``.
    """
    titles, bodies = (a.cast(pa.string()).fill_null("") for a in (titles, bodies))
    joined = pc.binary_join_element_wise(titles, bodies, "\n")  # a name may run from title into body
    names = [_names(found) for found in _matches(joined, _name_spans, *_PARTICLE_TABLE)]
    flat = pa.array([name for found in names for name in found], pa.string())
    rows = np.cumsum([0] + [len(found) for found in names])
    return [hashed_word_counts(_WORDS, bodies)[0], hashed_word_counts(_WORDS, titles)[0],
            hashed_strings(flat, rows, N_FEATURES)]


def _list_column(m: sp.csr_matrix, values: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(m.indptr.astype(np.int32)), pa.array(values))


@dataclass
class Terms:
    """Map step: articles -> their hashed term counts (body, title, proper nouns) and figures.

    Vectorising each article once, when it arrives, lets clustering and the document counts of an
    incremental add read a few integers per term instead of re-reading and re-tokenising the text.
    """

    kind: ClassVar[str] = "map"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "title", "text")
    output_schema: ClassVar[pa.Schema] = model.CLUSTER_TERMS

    def __call__(self, batch: pa.Table) -> pa.Table:
        titles, bodies = batch["title"].combine_chunks(), batch["text"].combine_chunks()
        cols: dict[str, pa.Array] = {"article_id": batch["article_id"].combine_chunks()}
        for rep, m in zip(REPS, term_counts(titles, bodies)):
            m = m.tocsr()
            cols[f"{rep}_idx"] = _list_column(m, m.indices.astype(np.int32))
            cols[f"{rep}_n"] = _list_column(m, np.minimum(m.data, 65535).astype(np.uint16))
        found = _matches(bodies, _figure_spans)
        cols["figures"] = pa.array([sorted(_figure_values(f)) for f in found], pa.list_(pa.string()))
        return pa.table(cols, schema=self.output_schema)


def _flat(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of a list column: row i's values are ``values[offsets[i]:offsets[i + 1]]``."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    off = arr.offsets.to_numpy()
    values = arr.values.to_numpy(zero_copy_only=False)[off[0]:off[-1]]
    return off - off[0], values


def docs_from_terms(terms: pa.Table, days: list[int | None]) -> list[Doc]:
    """:class:`Doc` of each row of a :class:`Terms` table (``days``: their day ordinals)."""
    reps = []
    for rep in REPS:
        off, idx = _flat(terms[f"{rep}_idx"])
        _, n = _flat(terms[f"{rep}_n"])
        reps.append((off, idx.astype(np.int64), 1.0 + np.log(n.astype(np.float32))))  # sublinear tf
    figs = terms["figures"].to_pylist()
    docs = []
    for i, (article_id, day) in enumerate(zip(terms["article_id"].to_pylist(), days)):
        tf = tuple((idx[off[i]:off[i + 1]], w[off[i]:off[i + 1]]) for off, idx, w in reps)
        docs.append(Doc(article_id, day, tf, frozenset(figs[i])))
    return docs


def featurize(rows: list[dict]) -> list[Doc]:
    """Hashed term frequencies of body, title and proper nouns, and figures, for ``rows`` (batch)."""
    if not rows:
        return []
    table = pa.table({"article_id": [r["article_id"] for r in rows], "title": [r.get("title") for r in rows],
                      "text": [r.get("text") for r in rows]},
                     schema=pa.schema([("article_id", pa.string()), ("title", pa.string()), ("text", pa.string())]))
    return docs_from_terms(Terms()(table), [_day(r.get("published")) for r in rows])


def _unit(w: np.ndarray) -> np.ndarray:
    norm = float(np.sqrt(w @ w))
    return w / norm if norm else w


# Document frequencies: one float array of N_FEATURES per representation, and the number of documents.
DF = tuple[list[np.ndarray], int]


def count_df(terms: pa.Table, df: DF | None = None) -> DF:
    """``df`` (or nothing) plus the document frequencies of the articles of ``terms`` (a :class:`Terms` table)."""
    counts = [c.copy() for c in df[0]] if df else [np.zeros(N_FEATURES) for _ in range(3)]
    for c, rep in zip(counts, REPS):
        c += np.bincount(_flat(terms[f"{rep}_idx"])[1], minlength=N_FEATURES)  # one entry per term and doc
    return counts, (df[1] if df else 0) + terms.num_rows


def df_table(df: DF) -> pa.Table:
    """``df`` as a :data:`model.CLUSTER_DF` table (non-zero counts, and term -1 = documents)."""
    reps, terms, values = [], [], []
    for k, c in enumerate(df[0]):
        nz = np.flatnonzero(c)
        reps.append(np.full(nz.size + 1, k, np.int8))
        terms.append(np.concatenate([[-1], nz]))
        values.append(np.concatenate([[df[1]], c[nz]]).astype(np.int64))
    return pa.table({"rep": np.concatenate(reps), "term": np.concatenate(terms),
                     "df": np.concatenate(values)}, schema=model.CLUSTER_DF)


def read_df(table: pa.Table) -> DF:
    """The document frequencies stored by :func:`df_table`."""
    rep, term = table["rep"].to_numpy(), table["term"].to_numpy()
    value = table["df"].to_numpy().astype(np.float64)
    counts = [np.zeros(N_FEATURES) for _ in range(3)]
    n = 0
    for k in range(3):
        mine = rep == k
        docs = mine & (term < 0)
        n = int(value[docs][0]) if docs.any() else n
        counts[k][term[mine & (term >= 0)]] = value[mine & (term >= 0)]
    return counts, n


# Marks are bitmaps read back in ascending order: the lowest set bit of a word in O(1) (de Bruijn),
# so touched documents and stories come out sorted without a sort.
_DEBRUIJN = 0x03F79D71B4CB0A89
_BIT_AT = np.zeros(64, np.int64)
for _i in range(64):
    _BIT_AT[((_DEBRUIJN << _i) & (2**64 - 1)) >> 58] = _i
_ONE = np.uint64(1)
_NONE = 2**62  # an empty range of marks: (_NONE, -1)


@intrinsic
def _prefetch(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """Ask for the cache line of ``arr[i]`` ahead of its use (LLVM's prefetch: read, keep in cache)."""
    if not isinstance(arr, numba.types.Array):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        at = context.cast(builder, args[1], signature.args[1], numba.types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [at])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return numba.types.void(arr, i), codegen


@numba.njit(cache=True, nogil=True)
def _low_bit(word: np.uint64) -> tuple[np.uint64, int]:
    """The lowest set bit of ``word`` (as a word) and its position."""
    low = word & (~word + _ONE)
    return low, _BIT_AT[(low * np.uint64(_DEBRUIJN)) >> np.uint64(58)]


@numba.njit(cache=True, nogil=True)
def _set_bit(bits: np.ndarray, i: int) -> None:
    bits[i >> 6] |= _ONE << np.uint64(i & 63)


@numba.njit(cache=True, nogil=True)
def _repost(kept: np.ndarray, fw_terms: np.ndarray, fw_w: np.ndarray, fw_doc: np.ndarray, fw_base: int, fw_n: int,
            indptr: np.ndarray, post_doc: np.ndarray, post_w: np.ndarray, head: np.ndarray, tail: np.ndarray,
            nxt: np.ndarray, count: np.ndarray, new_indptr: np.ndarray, new_post_doc: np.ndarray,
            new_post_w: np.ndarray) -> None:
    """The inverted index over the documents ``kept`` (a mask by doc) as a counting sort of their
    forward store would give it: each term's indexed postings of kept documents, then its buffer
    chain's (later documents), both in document order. A merge reads each posting once in order
    instead of scattering every entry; the chains are emptied."""
    at = 0
    for t in range(new_indptr.size - 1):
        for p in range(indptr[t], indptr[t + 1]):
            if kept[post_doc[p]]:
                new_post_doc[at], new_post_w[at] = post_doc[p], post_w[p]
                at += 1
        e = head[t]
        while e >= 0:
            if kept[fw_doc[e]]:
                new_post_doc[at], new_post_w[at] = fw_doc[e], fw_w[e]
                at += 1
            e = nxt[e]
        new_indptr[t + 1] = at
    for e in range(fw_base, fw_n):
        t = fw_terms[e]
        head[t], tail[t], count[t] = -1, -1, 0


@numba.njit(cache=True, nogil=True)
def _compact(keep: np.ndarray, doc_off: np.ndarray, doc_len: np.ndarray, fw_terms: np.ndarray, fw_w: np.ndarray,
             fw_doc: np.ndarray) -> None:
    """The forward store of the documents ``keep`` (ascending), moved to its head in place: documents
    are stored in doc order, so each moves down, never onto one still to move."""
    at = 0
    for d in keep:
        for p in range(doc_off[d], doc_off[d] + doc_len[d]):
            fw_terms[at], fw_w[at], fw_doc[at] = fw_terms[p], fw_w[p], d
            at += 1


@numba.njit(cache=True, nogil=True)
def _insert(norm2: np.ndarray, story_head: np.ndarray, story_tail: np.ndarray, doc_next: np.ndarray,
            doc_off: np.ndarray, doc_len: np.ndarray, fw_terms: np.ndarray, fw_w: np.ndarray, fw_doc: np.ndarray,
            head: np.ndarray, tail: np.ndarray, nxt: np.ndarray, count: np.ndarray, fw_n: int, doc: int, story: int,
            idx: np.ndarray, w: np.ndarray, ww: float, dot_story: float, ascending: np.ndarray) -> int:
    """Append document ``doc`` (``ww``: its squared norm) to ``story``'s members and its entries to the
    forward store at ``fw_n``, each at the end of its term's chain; returns the new end of the store.
    ``ascending[0]`` is cleared if its terms do not ascend."""
    norm2[story] = norm2[story] + 2.0 * dot_story + ww
    doc_next[doc] = -1
    if story_tail[story] < 0:
        story_head[story] = doc
    else:
        doc_next[story_tail[story]] = doc
    story_tail[story] = doc
    doc_off[doc], doc_len[doc] = fw_n, idx.size
    for i in range(idx.size):
        e, t = fw_n + i, idx[i]
        if i and t <= idx[i - 1]:
            ascending[0] = False
        fw_terms[e], fw_w[e], fw_doc[e] = t, w[i], doc
        nxt[e] = -1
        if tail[t] < 0:
            head[t] = e
        else:
            nxt[tail[t]] = e
        tail[t] = e
        count[t] += 1
    return fw_n + idx.size


@numba.njit(cache=True, nogil=True)
def _story_pass(indptr: np.ndarray, post_doc: np.ndarray, post_w: np.ndarray, head: np.ndarray, nxt: np.ndarray,
                fw_doc: np.ndarray, fw_w: np.ndarray, count: np.ndarray, idx: np.ndarray, w: np.ndarray,
                doc_story: np.ndarray, per_doc: bool, budget: int, dacc: np.ndarray, dbits: np.ndarray,
                sacc: np.ndarray, sbest: np.ndarray, sbits: np.ndarray) -> tuple[bool, int, int]:
    """Add the query ``(idx, w)``'s member dots to the story accumulators: per story slot sharing a
    term with it, the sum of its members' dots into ``sacc`` and (``per_doc``) the best member dot
    into ``sbest``, the slot marked in ``sbits``. Each term's indexed postings are read, then its
    buffer chain; at most ``budget`` postings are read, rarest terms first (see :data:`MAX_POSTINGS`).
    Returns (every term read, lowest and highest slot marked).

    Work follows the postings read, never the window: the accumulators are zero between calls and
    only the touched entries are visited. Products are float32 and sums float64, in the order of
    :meth:`_Postings.story_dots_reference`: the results are bit-identical.
    """
    counts = np.empty(idx.size, np.int64)
    total = 0
    for t in range(idx.size):
        counts[t] = indptr[idx[t] + 1] - indptr[idx[t]] + count[idx[t]]
        total += counts[t]
    complete = total <= budget
    read = np.full(idx.size, complete)
    if not complete:  # rarest first, ties in query order (a stable sort's): terms over the budget never fit
        keys = np.empty(idx.size, np.int64)
        n = 0
        for t in range(idx.size):
            if counts[t] <= budget:
                keys[n] = counts[t] * idx.size + t
                n += 1
        keys = np.sort(keys[:n])
        total = 0
        for key in keys:
            t = key % idx.size
            if total + counts[t] > budget:
                break
            read[t] = True
            total += counts[t]
    lo, hi = _NONE, -1  # touched docs (per_doc) or story slots
    for t in range(idx.size):
        if not read[t]:
            continue
        term, wt = idx[t], w[t]
        p, end, e = indptr[term], indptr[term + 1], head[term]
        while p < end or e >= 0:
            if p < end:
                d, v = post_doc[p], post_w[p] * wt
                p += 1
            else:
                d, v = fw_doc[e], fw_w[e] * wt
                e = nxt[e]
            key = d if per_doc else doc_story[d]
            if per_doc:
                dacc[key] += v
                _set_bit(dbits, key)
            else:
                sacc[key] += v
                _set_bit(sbits, key)
            lo, hi = min(lo, key), max(hi, key)
    if per_doc and hi >= 0:  # member sums rounded to float32, then summed per story in doc order
        dlo, dhi, lo, hi = lo, hi, _NONE, -1
        for i in range(dlo >> 6, (dhi >> 6) + 1):
            word = dbits[i]
            dbits[i] = 0
            while word:
                low, b = _low_bit(word)
                word ^= low
                d = (i << 6) + b
                v = np.float32(dacc[d])
                dacc[d] = 0.0
                s = doc_story[d]
                sacc[s] += v
                sbest[s] = max(sbest[s], v)
                _set_bit(sbits, s)
                lo, hi = min(lo, s), max(hi, s)
    return complete, lo, hi


@numba.njit(cache=True, nogil=True)
def _marked(sbits: np.ndarray, lo: int, hi: int, other: np.ndarray, olo: int, ohi: int) -> np.ndarray:
    """The slots marked in ``sbits`` (between ``lo`` and ``hi``) or in ``other``, ascending."""
    first, last = min(lo, olo) >> 6, max(hi, ohi) >> 6
    n = 0
    for i in range(first, last + 1):
        word = (sbits[i] if i < sbits.size else np.uint64(0)) | (other[i] if i < other.size else np.uint64(0))
        while word:
            word &= word - _ONE
            n += 1
    out = np.empty(n, np.int64)
    n = 0
    for i in range(first, last + 1):
        word = (sbits[i] if i < sbits.size else np.uint64(0)) | (other[i] if i < other.size else np.uint64(0))
        while word:
            low, b = _low_bit(word)
            word ^= low
            out[n] = (i << 6) + b
            n += 1
    return out


@numba.njit(cache=True, nogil=True)
def _clear(sacc: np.ndarray, sbest: np.ndarray, sbits: np.ndarray, lo: int, hi: int) -> None:
    """Zero the story accumulators marked between ``lo`` and ``hi``."""
    if hi < 0:
        return
    for i in range(lo >> 6, (hi >> 6) + 1):
        word = sbits[i]
        sbits[i] = 0
        while word:
            low, b = _low_bit(word)
            word ^= low
            s = (i << 6) + b
            sacc[s], sbest[s] = 0.0, 0.0


@numba.njit(cache=True, nogil=True)
def _story_dots(indptr: np.ndarray, post_doc: np.ndarray, post_w: np.ndarray, head: np.ndarray, nxt: np.ndarray,
                fw_doc: np.ndarray, fw_w: np.ndarray, count: np.ndarray, idx: np.ndarray, w: np.ndarray,
                doc_story: np.ndarray, per_doc: bool, budget: int, dacc: np.ndarray, dbits: np.ndarray,
                sacc: np.ndarray, sbest: np.ndarray,
                sbits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """:func:`_story_pass` as arrays: (story slots reached, ascending; their sums; their best member
    dots; complete), the accumulators zeroed again."""
    complete, lo, hi = _story_pass(indptr, post_doc, post_w, head, nxt, fw_doc, fw_w, count, idx, w, doc_story,
                                   per_doc, budget, dacc, dbits, sacc, sbest, sbits)
    slots = _marked(sbits, lo, hi, sbits[:0], _NONE, -1)
    sums, best = np.empty(slots.size), np.empty(slots.size, np.float32)
    for i in range(slots.size):
        sums[i], best[i] = sacc[slots[i]], sbest[slots[i]]
    _clear(sacc, sbest, sbits, lo, hi)
    return slots, sums, best, complete


@numba.njit(cache=True, nogil=True)
def _hold(scratch: np.ndarray, idx: np.ndarray, w: np.ndarray, on: bool) -> None:
    """Hold the weights ``w`` of the terms ``idx`` in ``scratch`` (or zero them again)."""
    for i in range(idx.size):
        scratch[idx[i]] = w[i] if on else 0.0


# A query's terms as a bitmap (``qbits``) is read once per member entry a scan visits, and 2^20
# bits overflow L1: its first _FILTER_WORDS words are a filter of the terms' low 16 bits (8 KB, in
# L1) that turns away ~99.5% of the entries, the bitmap of the terms themselves follows.
_FILTER_WORDS = 2**16 // 64


def _query_bits(n_features: int) -> np.ndarray:
    """An empty ``qbits`` (filter and bitmap) for terms below ``n_features``."""
    return np.zeros(_FILTER_WORDS + n_features // 64 + 1, np.uint64)


@numba.njit(cache=True, nogil=True)
def _in_query(qbits: np.ndarray, t: int) -> bool:
    h = t & 0xFFFF
    if not (qbits[h >> 6] >> np.uint64(h & 63)) & _ONE:
        return False
    return bool((qbits[_FILTER_WORDS + (t >> 6)] >> np.uint64(t & 63)) & _ONE)


@numba.njit(cache=True, nogil=True)
def _load_query(qbits: np.ndarray, scratch: np.ndarray, idx: np.ndarray, w: np.ndarray, on: bool) -> None:
    """Hold the query ``(idx, w)`` in ``scratch`` and its terms in ``qbits`` (or take it out)."""
    for i in range(idx.size):
        t = idx[i]
        if on:
            _set_bit(qbits, t & 0xFFFF)
            _set_bit(qbits, _FILTER_WORDS * 64 + t)
            scratch[t] = w[i]
        else:
            qbits[(t & 0xFFFF) >> 6] = 0
            qbits[_FILTER_WORDS + (t >> 6)] = 0
            scratch[t] = 0.0


@numba.njit(cache=True, nogil=True)
def _scan(story_head: np.ndarray, doc_next: np.ndarray, doc_off: np.ndarray, doc_len: np.ndarray,
          fw_terms: np.ndarray, fw_w: np.ndarray, qbits: np.ndarray, scratch: np.ndarray, slots: np.ndarray,
          dots: int, sums: np.ndarray, best: np.ndarray, means: int, scratch2: np.ndarray, scale: np.ndarray,
          n_query: int, out: np.ndarray) -> None:
    """One pass over the members' own vectors (in doc order; terms in stored order) of the stories
    ``slots``, the query held in ``scratch`` and its terms in ``qbits`` (see :func:`_load_query`).

    ``dots`` 1: per story the sum of its members' dots with the query into ``sums`` and the best
    into ``best`` (each rounded to float32); 2: the plain sum of the products. ``means`` 1: into
    ``out`` the mean over its members (evicted ones, offset -1, not counted) of the overlap
    coefficient of their terms with the query's (``n_query`` terms); 2: the mean over its held
    members of ``scale[d]`` times their dot with ``scratch2``. A member term outside the query
    adds an exact 0 in every sum: the bitmap skips it without touching the scratch vectors.
    """
    for r in range(slots.size):
        total, members = 0.0, 0
        d = story_head[slots[r]] if slots[r] < story_head.size else -1
        while d >= 0:
            off, m = doc_off[d], doc_len[d]
            # The members' vectors lie apart in the store (a cache miss each line): the next member's
            # lines are asked for while this one is read.
            after = doc_next[d]
            if after < 0 and r + 1 < slots.size and slots[r + 1] < story_head.size:
                after = story_head[slots[r + 1]]
            if after >= 0 and doc_len[after] > 0:
                for p in range(doc_off[after], doc_off[after] + doc_len[after], 8):
                    _prefetch(fw_terms, p)
            acc, acc2, shared = 0.0, 0.0, 0.0
            for p in range(off, off + m):
                t = fw_terms[p]
                if _in_query(qbits, t):
                    if dots == 1:
                        acc += scratch[t] * fw_w[p]
                    elif dots == 2:
                        sums[r] += scratch[t] * fw_w[p]
                    if means == 1:
                        shared += 1.0
                    elif means == 2:
                        acc2 += scratch2[t] * fw_w[p]
            if dots == 1:
                v = np.float32(acc)
                sums[r] += v
                best[r] = max(best[r], v)
            if means == 1 and off >= 0:
                total += shared / max(1, min(n_query, m))
                members += 1
            elif means == 2 and m > 0:
                total += acc2 * scale[d]
                members += 1
            d = doc_next[d]
        if means:
            out[r] = total / members if members else 0.0


@numba.njit(cache=True, nogil=True)
def _query_cost(indptr: np.ndarray, count: np.ndarray, idx: np.ndarray) -> int:
    """The postings of the query terms ``idx`` (indexed and chained), or -1 unless ``idx`` ascends."""
    n = 0
    for t in range(idx.size):
        if t and idx[t] <= idx[t - 1]:
            return -1
        n += indptr[idx[t] + 1] - indptr[idx[t]] + count[idx[t]]
    return n


@numba.njit(cache=True, nogil=True)
def _scan_cost(story_head: np.ndarray, doc_next: np.ndarray, doc_len: np.ndarray, slots: np.ndarray) -> int:
    """The entries :func:`_scan` reads for the stories ``slots``: their members' vector lengths."""
    n = 0
    for s in slots:
        d = story_head[s] if s < story_head.size else -1
        while d >= 0:
            n += doc_len[d]
            d = doc_next[d]
    return n


@numba.njit(cache=True, nogil=True)
def _posted_scan(indptr: np.ndarray, post_doc: np.ndarray, post_w: np.ndarray, head: np.ndarray, nxt: np.ndarray,
                 fw_doc: np.ndarray, fw_w: np.ndarray, idx: np.ndarray, w: np.ndarray, w2: np.ndarray,
                 story_head: np.ndarray, doc_next: np.ndarray, doc_off: np.ndarray, doc_len: np.ndarray,
                 slots: np.ndarray, marks: np.ndarray, acc: np.ndarray, acc2: np.ndarray, dots: int, sums: np.ndarray,
                 best: np.ndarray, means: int, scale: np.ndarray, n_query: int, out: np.ndarray) -> None:
    """:func:`_scan` (``dots`` 0 or 1) read from the query terms' postings instead of the members'
    vectors: each posting of a candidate's member (marked in ``marks``) adds its product to the
    member's accumulators (``acc``, ``acc2``: per doc, zero between calls), then the members are
    summed as the scan sums them. Every member and query hold their terms in ascending order
    (the caller checks), so a member meets the query's terms in the same order either way and each
    member's float64 sum takes the same additions: the results are bit-identical. Worth it when the
    query's postings are fewer than the members' entries (a query meets ~3% of a member's terms).
    """
    for s in slots:
        d = story_head[s] if s < story_head.size else -1
        while d >= 0:
            _set_bit(marks, d)
            d = doc_next[d]
    for t in range(idx.size):
        term, wt = idx[t], np.float32(w[t])  # the scan reads the query as float32 (its scratch vector)
        wt2 = np.float32(w2[t]) if means == 2 else np.float32(0.0)
        p, end, e = indptr[term], indptr[term + 1], head[term]
        while p < end or e >= 0:
            if p < end:
                d, v = post_doc[p], post_w[p]
                p += 1
            else:
                d, v = fw_doc[e], fw_w[e]
                e = nxt[e]
            if (marks[d >> 6] >> np.uint64(d & 63)) & _ONE:
                if dots == 1:
                    acc[d] += wt * v
                if means == 1:
                    acc[d] += 1.0
                elif means == 2:
                    acc2[d] += wt2 * v
    for r in range(slots.size):
        total, members = 0.0, 0
        d = story_head[slots[r]] if slots[r] < story_head.size else -1
        while d >= 0:
            off, m = doc_off[d], doc_len[d]
            if dots == 1:
                v = np.float32(acc[d])
                sums[r] += v
                best[r] = max(best[r], v)
            if means == 1 and off >= 0:
                total += acc[d] / max(1, min(n_query, m))
                members += 1
            elif means == 2 and m > 0:
                total += acc2[d] * scale[d]
                members += 1
            acc[d] = 0.0
            if means == 2:
                acc2[d] = 0.0
            marks[d >> 6] = 0
            d = doc_next[d]
        if means:
            out[r] = total / members if members else 0.0


# A representation's arrays as the scoring kernel reads them (see _Postings.arrays).
_INDPTR, _POST_DOC, _POST_W, _HEAD, _NXT, _FW_DOC, _FW_W, _COUNT, _FW_TERMS, _DOC_OFF, _DOC_LEN = range(11)
_DACC, _DBITS, _SACC, _SBEST, _SBITS, _NORM2, _SCRATCH, _QBITS, _DACC2, _ASCENDING = range(11, 21)


@numba.njit(cache=True, nogil=True)
def _score(reps: tuple, queries: tuple, rare_w: np.ndarray, rare_scratch: np.ndarray, rare_scale: np.ndarray,
           story_head: np.ndarray, doc_next: np.ndarray, doc_story: np.ndarray, first: np.ndarray, last: np.ndarray,
           sizes: np.ndarray, day: int, dated: bool, window: int, budget: int, max_candidates: int,
           want_set: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:meth:`StoryIndex.candidates` in one pass: the active stories sharing a body word or a name
    with the query (``queries``: (terms, unit weights) per representation) within ``window`` days,
    their feature rows (:data:`FEATURES`, the set-based ones left 0), their dots with the query per
    representation and (``want_set``) their name overlap and rare-word mean (:meth:`StoryIndex.set_features`).

    The set features are read in the same pass over the members' vectors as the exact dots, for
    every candidate: by then the members are in cache, and most candidates get them anyway.
    """
    complete, lo, hi = np.ones(3, np.bool_), np.full(3, _NONE), np.full(3, -1)
    for k in range(3):
        a = reps[k]
        idx, w = queries[k]
        complete[k], lo[k], hi[k] = _story_pass(a[_INDPTR], a[_POST_DOC], a[_POST_W], a[_HEAD], a[_NXT], a[_FW_DOC],
                                                a[_FW_W], a[_COUNT], idx, w, doc_story, k == 0, budget, a[_DACC],
                                                a[_DBITS], a[_SACC], a[_SBEST], a[_SBITS])
    body, title, names = reps[0], reps[1], reps[2]
    found = _marked(body[_SBITS], lo[0], hi[0], names[_SBITS], lo[2], hi[2])
    slots, gaps = np.empty(found.size, np.int64), np.zeros(found.size, np.int64)
    n = 0
    for s in found:
        gap = 0
        if dated:
            if first[s] != NO_DAY:
                gap = max(max(first[s] - day, day - last[s]), 0)
            if gap > window:
                continue
        slots[n], gaps[n] = s, gap
        n += 1
    slots, gaps = slots[:n], gaps[:n]
    exact = complete[0] and complete[1] and complete[2]
    if not exact and n > max_candidates:
        # Common terms were skipped: the stories reached through the others, best first, get
        # exact sums from their members' vectors (ties by position, as a stable sort would pick).
        partial = np.empty(n)
        for r in range(n):
            partial[r] = 0.0 + body[_SACC][slots[r]] + names[_SACC][slots[r]]
        kth = np.partition(partial, n - max_candidates)[n - max_candidates]
        room = max_candidates  # ties taken: the room the larger ones leave
        for r in range(n):
            if partial[r] > kth:
                room -= 1
        m = 0
        for r in range(n):
            tie = partial[r] == kth and room > 0
            if partial[r] > kth or tie:
                room -= 1 if tie else 0
                slots[m], gaps[m] = slots[r], gaps[r]
                m += 1
        n = m
        slots, gaps = slots[:n], gaps[:n]
    sums, best = np.zeros((3, n)), np.zeros(n, np.float32)
    setf = np.zeros((n, 2))
    for k in range(3):
        a = reps[k]
        idx, w = queries[k]
        dots = 0 if complete[k] else (1 if k == 0 else 2)
        means = (2 if k == 0 else 1 if k == 2 else 0) if want_set else 0
        if complete[k]:
            for r in range(n):
                sums[k, r] = a[_SACC][slots[r]]
                if k == 0:
                    best[r] = a[_SBEST][slots[r]]
        _clear(a[_SACC], a[_SBEST], a[_SBITS], lo[k], hi[k])
        if not dots and not means:
            continue
        col = setf[:, 0 if k == 2 else 1]
        # the members' sums from the query's postings when they are fewer than the members' entries
        cost = _query_cost(a[_INDPTR], a[_COUNT], idx) if dots != 2 and a[_ASCENDING][0] else -1
        if 0 <= cost and cost * POSTING_COST <= _scan_cost(story_head, doc_next, a[_DOC_LEN], slots):
            _posted_scan(a[_INDPTR], a[_POST_DOC], a[_POST_W], a[_HEAD], a[_NXT], a[_FW_DOC], a[_FW_W], idx, w, rare_w,
                         story_head, doc_next, a[_DOC_OFF], a[_DOC_LEN], slots, a[_DBITS], a[_DACC], a[_DACC2], dots,
                         sums[k], best, means, rare_scale, idx.size, col)
            continue
        _load_query(a[_QBITS], a[_SCRATCH], idx, w, True)
        if means == 2:
            _hold(rare_scratch, idx, rare_w, True)
        _scan(story_head, doc_next, a[_DOC_OFF], a[_DOC_LEN], a[_FW_TERMS], a[_FW_W], a[_QBITS], a[_SCRATCH], slots,
              dots, sums[k], best, means, rare_scratch, rare_scale, idx.size, col)
        _load_query(a[_QBITS], a[_SCRATCH], idx, w, False)
        if means == 2:
            _hold(rare_scratch, idx, rare_w, False)
    x = np.zeros((n, 9))
    for r in range(n):
        s = slots[r]
        x[r, 5] = min(gaps[r], 7) / 7.0
        for k in range(3):
            norm2 = reps[k][_NORM2]
            nn = norm2[s] if s < norm2.size else 0.0
            x[r, k] = sums[k, r] / np.sqrt(nn) if nn > 0 else 0.0
        x[r, 3] = best[r]
        x[r, 4] = sums[0, r] / max(1, sizes[s])
    return slots, x, sums, setf


def _interleaved(terms: np.ndarray, weights: np.ndarray, size: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``terms`` (int32) and ``weights`` (float32) as views of one buffer with room for ``size``
    entries, term and weight side by side: a member scan finds the weight of a matching term in the
    cache line it just read. (At least 16 entries: the views are never contiguous, one kernel type.)"""
    buf = np.zeros(2 * max(size, terms.size, 16), np.int32)
    buf[0:2 * terms.size:2] = terms
    buf.view(np.float32)[1:2 * terms.size:2] = weights
    return buf[0::2], buf.view(np.float32)[1::2]


def _resized(a: np.ndarray, size: int) -> np.ndarray:
    """``a`` (which owns its memory, no view of it in use) with room for ``size`` entries, in place
    where the allocator can (a large block is remapped, not copied): no second copy at once."""
    a.resize(size, refcheck=False)
    return a


def _grow(a: np.ndarray, size: int, fill: float = 0) -> np.ndarray:
    """``a`` with room for ``size`` entries (doubling; new entries ``fill``)."""
    if size <= a.size:
        return a
    out = np.full(max(size, 2 * a.size), fill, a.dtype)
    out[:a.size] = a
    return out


class _Postings:
    """One representation: incremental document frequencies and an inverted index of member vectors.

    A story centroid is the sum of its members' unit vectors, so ``q . centroid`` is the sum of
    ``q . member`` over its members: scoring goes through member postings and sums per story.
    The active documents' vectors sit in a forward store (``fw_*``, by document); the inverted
    index covers its head, and the documents added since the last rebuild are reached through
    per-term chains. A rebuild (rewriting the whole index) waits until the unindexed tail is a
    fixed share of the index, so its cost per posting stays constant however dense the window.
    """

    def __init__(self, n_features: int, floor: float = 1.0, prior: float = PRIOR_DOCS, rare: bool = False) -> None:
        self.floor = floor  # IDF added to every term: 0 gives no weight to a term in every document
        self.prior = prior
        self.df = np.zeros(n_features, np.float32)
        self.n_docs = 0
        self.frozen = False  # True once the IDF was set from a whole batch (count_df)
        self._idf: np.ndarray | None = None  # the frozen IDF of every term
        self.norm2 = np.zeros(1024)  # story slot -> |centroid|^2
        # forward store: the active documents' unit vectors; doc -> (offset, length); length 0 = none
        self.fw_terms, self.fw_w = _interleaved(np.zeros(4096, np.int32), np.zeros(4096, np.float32))
        self.fw_doc, self.fw_n, self.fw_base = np.zeros(4096, np.int32), 0, 0  # entries from fw_base: unindexed
        self.doc_off, self.doc_len = np.zeros(1024, np.int64), np.zeros(1024, np.int32)
        self.doc_next = np.full(1024, -1, np.int64)  # members of a story, chained in doc order
        self.story_head, self.story_tail = np.full(1024, -1, np.int64), np.full(1024, -1, np.int64)
        # inverted index over fw entries before fw_base: term -> (doc, weight) postings
        self.indptr = np.zeros(n_features + 1, np.int64)
        self.post_doc, self.post_w = np.zeros(0, np.int32), np.zeros(0, np.float32)
        self.indexed = 0  # documents in the inverted index
        # the unindexed tail: per term, its entries chained in insertion order, and their count
        self.head, self.tail = np.full(n_features, -1, np.int32), np.full(n_features, -1, np.int32)
        self.nxt, self.count = np.zeros(4096, np.int32), np.zeros(n_features, np.int32)
        # accumulators of story_dots, zero between calls: per doc and per story slot, marks as bitmaps
        self.dacc, self.dbits = np.zeros(1024), np.zeros(1024 // 64, np.uint64)
        self.sacc, self.sbest, self.sbits = np.zeros(1024), np.zeros(1024, np.float32), np.zeros(1024 // 64, np.uint64)
        # the query of a pass over member vectors: weights by term, and its terms as a bitmap (fits in cache)
        self.scratch, self.qbits = np.zeros(n_features, np.float32), _query_bits(n_features)
        self.dacc2 = np.zeros(1024)  # a second per-doc accumulator (the rare-word sums of _posted_scan)
        self.ascending = np.ones(1, np.bool_)  # every document added holds its terms in ascending order
        self.rare = rare  # keep rare_scale: doc -> 1 / |its unit vector times the IDF| (the rare_body feature)
        self.rare_scale = np.zeros(1024)

    def idf(self, idx: np.ndarray) -> np.ndarray:
        """IDF of the terms ``idx`` over the documents counted so far."""
        if self.frozen:  # the same float32 arithmetic, done once for every term
            if self._idf is None:
                self._idf = self._formula(self.df)
            return self._idf[idx]
        return self._formula(self.df[idx])

    def freeze(self, df: np.ndarray, n_docs: int) -> None:
        """Fix the document frequencies (those of a whole batch or archive)."""
        self.df[:] = df
        self.n_docs, self.frozen, self._idf = n_docs, True, None

    def _formula(self, df: np.ndarray) -> np.ndarray:
        return np.log((self.n_docs + self.prior + 1.0) / (df + 1.0)) + self.floor

    def weigh(self, idx: np.ndarray, tf: np.ndarray) -> np.ndarray:
        """Unit TF-IDF weights with the IDF of the documents seen so far."""
        return _unit(tf * self.idf(idx))

    def vector(self, doc: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The active document's (terms, unit weights), or None (no terms, or evicted)."""
        if doc >= self.doc_len.size or not self.doc_len[doc]:
            return None
        at = slice(self.doc_off[doc], self.doc_off[doc] + self.doc_len[doc])
        # copies: the store is resized in place (_resized), which would leave a view dangling
        return self.fw_terms[at].copy(), self.fw_w[at].copy()

    def stored(self, n_docs: int) -> np.ndarray:
        """The documents (of the first ``n_docs``) whose vectors are held."""
        return np.flatnonzero(self.doc_len[:n_docs] > 0)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays :func:`_score` reads, in the order of its ``_INDPTR``... constants."""
        return (self.indptr, self.post_doc, self.post_w, self.head, self.nxt, self.fw_doc, self.fw_w, self.count,
                self.fw_terms, self.doc_off, self.doc_len, self.dacc, self.dbits, self.sacc, self.sbest, self.sbits,
                self.norm2, self.scratch, self.qbits, self.dacc2, self.ascending)

    def story_dots(self, idx: np.ndarray, w: np.ndarray, doc_story: np.ndarray, per_doc: bool,
                   max_postings: int = 2**62) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """(story slots, sum of member dots, best member dot if ``per_doc``, complete) of the active
        documents sharing a term with the query; ``doc_story`` maps doc numbers to story slots.

        At most ``max_postings`` postings are read, rarest terms first; ``complete`` says whether
        every term was (else the sums are partial and the slots only those reached otherwise).
        """
        if not idx.size:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.float32), True
        return _story_dots(self.indptr, self.post_doc, self.post_w, self.head, self.nxt, self.fw_doc, self.fw_w,
                           self.count, idx, w, doc_story, per_doc, max_postings, self.dacc, self.dbits, self.sacc,
                           self.sbest, self.sbits)

    def member_dots(self, idx: np.ndarray, w: np.ndarray, slots: np.ndarray, doc_story: np.ndarray,
                    per_doc: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`story_dots` restricted to the (sorted) stories ``slots``, summed over their members'
        vectors instead of the postings: every term counts, however common."""
        if not slots.size or not idx.size:
            return slots, np.zeros(slots.size), np.zeros(slots.size, np.float32)
        sums, best = np.zeros(slots.size), np.zeros(slots.size, np.float32)
        _load_query(self.qbits, self.scratch, idx, w, True)
        try:
            _scan(self.story_head, self.doc_next, self.doc_off, self.doc_len, self.fw_terms, self.fw_w, self.qbits,
                  self.scratch, slots, 1 if per_doc else 2, sums, best, 0, self.scratch, self.rare_scale, 0, sums)
        finally:
            _load_query(self.qbits, self.scratch, idx, w, False)
        return slots, sums, best

    def story_dots_reference(self, idx: np.ndarray, w: np.ndarray, doc_story: np.ndarray,
                             per_doc: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`story_dots` in plain numpy (the kernel's test oracle): products taken term by term,
        each term's indexed postings before its unindexed entries, each in stored order."""
        if not idx.size:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.float32)
        starts, ends = self.indptr[idx], self.indptr[idx + 1]
        lens = ends - starts
        pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        term_rank, part, seq = np.repeat(np.arange(idx.size), lens), np.zeros(pos.size, np.int64), pos
        doc, dot = self.post_doc[pos].astype(np.int64), self.post_w[pos] * np.repeat(w, lens)
        tail = np.arange(self.fw_base, self.fw_n)
        rank = np.minimum(np.searchsorted(idx, self.fw_terms[tail]), idx.size - 1)
        hit = idx[rank] == self.fw_terms[tail]
        tail, rank = tail[hit], rank[hit]
        term_rank = np.concatenate([term_rank, rank])
        part, seq = np.concatenate([part, np.ones(tail.size, np.int64)]), np.concatenate([seq, tail])
        doc = np.concatenate([doc, self.fw_doc[tail].astype(np.int64)])
        dot = np.concatenate([dot, self.fw_w[tail] * w[rank]])
        order = np.lexsort((seq, part, term_rank))
        doc, dot = doc[order], dot[order]
        if not doc.size:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.float32)
        if per_doc:
            doc, inv = np.unique(doc, return_inverse=True)
            dot = np.bincount(inv, dot).astype(np.float32)
        slots, inv = np.unique(doc_story[doc], return_inverse=True)
        best = np.zeros(slots.size, np.float32)
        if per_doc:
            np.maximum.at(best, inv, dot)
        return slots, np.bincount(inv, dot, minlength=slots.size), best

    def _room(self, n_docs: int, n_slots: int) -> None:
        """Per-doc and per-story arrays large enough for ``n_docs`` documents and ``n_slots`` stories."""
        if n_docs > self.doc_len.size:
            self.doc_off, self.doc_len = _grow(self.doc_off, n_docs), _grow(self.doc_len, n_docs)
            self.doc_next = _grow(self.doc_next, n_docs, -1)
            self.dacc, self.dbits = _grow(self.dacc, n_docs), _grow(self.dbits, n_docs // 64 + 1)
            self.dacc2 = _grow(self.dacc2, n_docs)
        if n_slots > self.story_head.size:
            self.story_head, self.story_tail = _grow(self.story_head, n_slots, -1), _grow(self.story_tail, n_slots, -1)
            self.sacc, self.sbest = _grow(self.sacc, n_slots), _grow(self.sbest, n_slots)
            self.sbits = _grow(self.sbits, n_slots // 64 + 1)
            self.norm2 = _grow(self.norm2, n_slots)
        if n_docs > self.rare_scale.size:
            self.rare_scale = _grow(self.rare_scale, n_docs)

    def add(self, doc: int, story: int, idx: np.ndarray, w: np.ndarray, dot_story: float,
            weighted: np.ndarray | None = None) -> None:
        """Insert a weighted document into ``story`` (``dot_story``: its dot with the centroid;
        ``weighted``: ``w`` times the IDF, if the caller has it)."""
        if not self.frozen:
            self.df[idx] += 1.0
            self.n_docs += 1
        self._room(doc + 1, story + 1)
        n, m = self.fw_n, idx.size
        if m and self.rare:  # with the IDF of its arrival (fixed when the archive is counted first, as in Cluster)
            wi = w * self.idf(idx) if weighted is None else weighted
            self.rare_scale[doc] = 1.0 / max(float(np.sqrt(np.sum(wi ** 2))), 1e-30)
        if n + m > min(self.fw_terms.size, self.fw_doc.size, self.nxt.size):
            size = max(n + m, self.fw_terms.size + self.fw_terms.size // REBUILD_SHARE)  # in place: steps suffice
            buf = _resized(self.fw_terms.base, 2 * size)
            self.fw_terms, self.fw_w = buf[0::2], buf.view(np.float32)[1::2]
            self.fw_doc, self.nxt = _resized(self.fw_doc, size), _resized(self.nxt, size)
        self.fw_n = _insert(self.norm2, self.story_head, self.story_tail, self.doc_next, self.doc_off, self.doc_len,
                            self.fw_terms, self.fw_w, self.fw_doc, self.head, self.tail, self.nxt, self.count, n, doc,
                            story, idx, w, float(w @ w), dot_story, self.ascending)

    def rebuild(self, keep: Iterable[int]) -> None:
        """Index the held documents in ``keep``; forget the others."""
        keep = np.unique(np.asarray(keep if isinstance(keep, np.ndarray) else list(keep), np.int64))
        keep = keep[keep < self.doc_len.size]
        keep = keep[self.doc_len[keep] > 0]
        lens = self.doc_len[keep].astype(np.int64)
        n = int(lens.sum())
        kept = np.zeros(self.doc_len.size, np.bool_)
        kept[keep] = True
        # The postings are merged into new arrays (the old ones go right after), then the forward
        # store is compacted in place and given room for the documents added until the next
        # rebuild: at most the store and two sets of postings are held at once, never two stores.
        indptr = np.empty(len(self.df) + 1, np.int64)
        indptr[0] = 0
        post_doc, post_w = np.empty(n, np.int32), np.empty(n, np.float32)
        _repost(kept, self.fw_terms, self.fw_w, self.fw_doc, self.fw_base, self.fw_n, self.indptr, self.post_doc,
                self.post_w, self.head, self.tail, self.nxt, self.count, indptr, post_doc, post_w)
        self.indptr, self.post_doc, self.post_w = indptr, post_doc, post_w
        _compact(keep, self.doc_off, self.doc_len, self.fw_terms, self.fw_w, self.fw_doc)
        size = n + n // REBUILD_SHARE + 4096
        buf = _resized(self.fw_terms.base, 2 * size)
        self.fw_terms, self.fw_w = buf[0::2], buf.view(np.float32)[1::2]
        self.fw_doc, self.nxt = _resized(self.fw_doc, size), _resized(self.nxt, size)
        dropped = self.stored(self.doc_len.size)
        self.doc_len[dropped], self.doc_off[dropped] = 0, -1  # evicted
        self.doc_len[keep], self.doc_off[keep] = lens, np.cumsum(lens) - lens
        self.fw_n = self.fw_base = n
        self.indexed = keep.size


_FIGURES = operator.attrgetter("figures")


@dataclass
class _Story:
    slot: int
    story_id: str
    first_day: int | None
    last_day: int | None
    figures: set[str] = field(default_factory=set)
    size: int = 0


def merge_probability(x: np.ndarray, weights: tuple[float, ...] = WEIGHTS, bias: float = BIAS) -> np.ndarray:
    """The logistic merge model over the rows of ``x`` (columns: :data:`FEATURES`)."""
    z = x @ np.asarray(weights, np.float64) + bias
    return 1.0 / (1.0 + np.exp(-z))


class StoryIndex:
    """The active stories and their representations: score an article against them, add it to one.

    Memory holds the member vectors of stories active within ``window_days`` of the newest
    article seen; older stories keep only their id, dates and figures once evicted at a rebuild.
    """

    def __init__(self, window_days: int = 7, n_features: int = N_FEATURES) -> None:
        self.window_days = window_days
        # A title word every article of the run carries ("Live updates") is no evidence.
        self.reps = [_Postings(n_features, rare=True), _Postings(n_features, floor=0.0, prior=0.0),
                     _Postings(n_features)]
        self.stories: list[_Story] = []
        self.by_id: dict[str, int] = {}
        self.doc_story = np.zeros(1024, np.int64)  # doc number -> story slot
        self.first = np.zeros(1024, np.int64)  # story slot -> first / last day (NO_DAY when unknown)
        self.last = np.zeros(1024, np.int64)
        self.n_docs = 0
        self.newest: int | None = None
        self.evict = True  # forget stories out of the window at rebuilds
        self.sizes = np.zeros(1024, np.int64)  # story slot -> members
        # the last candidates: their slots, dots per rep (3 x slots) and set features (doc, slots x 2)
        self._slots = np.zeros(0, np.int64)
        self._dots: np.ndarray | None = None
        self._set: tuple[Doc, np.ndarray] | None = None
        self._query: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        self.rare_scratch = np.zeros(n_features, np.float32)  # the rare_body query, by term
        # the last body vector weighed and its IDF; the last rare query's vector and it times the IDF
        self._body_idf: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self._weighted: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self._unindexed = 0  # documents added since the last rebuild

    def count_df(self, docs: Iterable[Doc]) -> None:
        """Fix the IDF to the document frequencies of ``docs`` (every article of this run)."""
        n, counts = 0, [np.zeros_like(rep.df) for rep in self.reps]
        for doc in docs:
            for c, (idx, _) in zip(counts, doc.tf):
                c[idx] += 1.0
            n += 1
        for rep, c in zip(self.reps, counts):
            rep.freeze(c, n)

    def set_df(self, df: DF) -> None:
        """Fix the IDF to stored document frequencies (:func:`count_df` over the whole archive)."""
        for rep, c in zip(self.reps, df[0]):
            rep.freeze(c, df[1])

    def weigh(self, doc: Doc) -> list[tuple[np.ndarray, np.ndarray]]:
        """The doc's unit TF-IDF vectors under the current IDF, one per representation."""
        vecs = [(idx, rep.weigh(idx, tf)) for rep, (idx, tf) in zip(self.reps[1:], doc.tf[1:])]
        idx, tf = doc.tf[0]
        idf = self.reps[0].idf(idx)
        w = _unit(tf * idf)
        self._body_idf = (w, idf)  # the rare_body feature weighs the same vector by IDF again
        return [(idx, w), *vecs]

    def candidates(self, doc: Doc, vecs: list[tuple[np.ndarray, np.ndarray]],
                   set_features: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Active stories sharing a body word or a name with ``doc``, and their feature rows (the
        set-based features 0; with ``set_features`` the name overlap and the rare-word mean are
        kept for :meth:`lazy_features`)."""
        body = self.reps[0]
        idx = vecs[0][0]
        rare_w = self._rare_query(vecs[0]) if set_features else idx[:0].astype(np.float32)
        slots, x, dots, setf = _score(
            (body.arrays(), self.reps[1].arrays(), self.reps[2].arrays()), tuple(vecs), rare_w, self.rare_scratch,
            body.rare_scale, body.story_head, body.doc_next, self.doc_story[:self.n_docs], self.first, self.last,
            self.sizes, 0 if doc.day is None else doc.day, doc.day is not None, self.window_days, MAX_POSTINGS,
            MAX_CANDIDATES, set_features)
        self._slots, self._dots, self._query = slots, dots, vecs[0]
        self._set = (doc, setf) if set_features else None
        return slots, x

    def _rare_query(self, vec: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The body query weighed by TF-IDF times IDF again, a unit vector (the rare_body feature)."""
        idx, w = vec
        if not idx.size:
            return w
        idf = self._body_idf[1] if self._body_idf[0] is w else self.reps[0].idf(idx)
        wi = w * idf
        self._weighted = (w, wi)
        return _unit(wi) * idf

    def lazy_features(self, doc: Doc, slots: np.ndarray, rows: np.ndarray, figures: bool = True) -> np.ndarray:
        """:meth:`set_features_many` of the stories ``slots[rows]``, from the last :meth:`candidates`
        when it kept them for these ``slots`` (then without ``figures`` the shared figures are left 0)."""
        if self._set is None or self._set[0] is not doc or slots is not self._slots:
            return self.set_features_many(doc, np.asarray(slots)[rows])
        out = np.zeros((rows.size, 3))
        out[:, 1:] = self._set[1][rows]
        if figures and doc.figures:
            out[:, 0] = self.shared_figures(doc, slots[rows])
        return out

    def shared_figures(self, doc: Doc, slots: np.ndarray) -> np.ndarray:
        """The shared-figures feature of ``doc`` with each story of ``slots`` (``doc`` has figures)."""
        figs = doc.figures  # most stories share no figure: isdisjoint stops early and builds no set
        sets = list(map(_FIGURES, map(self.stories.__getitem__, slots.tolist())))
        shared = [0 if apart else len(figs & f) for apart, f in zip(map(figs.isdisjoint, sets), sets)]
        return np.minimum(1.0, np.array(shared) / 3.0)

    def set_features(self, doc: Doc, slot: int) -> tuple[float, float, float]:
        """Shared figures, the mean proper-noun overlap coefficient with the story's members, and
        the mean member body cosine with IDF squared (rare, event-specific words dominate)."""
        figs, names, rare = self.set_features_many(doc, np.array([slot]))[0]
        return float(figs), float(names), float(rare)

    def set_features_many(self, doc: Doc, slots: np.ndarray) -> np.ndarray:
        """:meth:`set_features` of several stories, one row each, read from the members' vectors."""
        out = np.zeros((slots.size, 3))
        if doc.figures:
            for r, slot in enumerate(slots.tolist()):
                out[r, 0] = min(1.0, len(doc.figures & self.stories[slot].figures) / 3.0)
        names, body = self.reps[2], self.reps[0]
        q = doc.tf[2][0]
        no_dots = np.zeros(slots.size)
        col = np.zeros(slots.size)
        _load_query(names.qbits, names.scratch, q, np.ones(q.size, np.float32), True)
        try:
            _scan(names.story_head, names.doc_next, names.doc_off, names.doc_len, names.fw_terms, names.fw_w,
                  names.qbits, names.scratch, slots, 0, no_dots, no_dots.astype(np.float32), 1, names.scratch,
                  body.rare_scale, q.size, col)
        finally:
            _load_query(names.qbits, names.scratch, q, np.ones(q.size, np.float32), False)
        out[:, 1] = col
        idx, w = self._query
        if idx.size:
            col = np.zeros(slots.size)
            _load_query(body.qbits, body.scratch, idx, w, True)
            _hold(self.rare_scratch, idx, self._rare_query(self._query), True)
            try:
                _scan(body.story_head, body.doc_next, body.doc_off, body.doc_len, body.fw_terms, body.fw_w,
                      body.qbits, body.scratch, slots, 0, no_dots, no_dots.astype(np.float32), 2, self.rare_scratch,
                      body.rare_scale, idx.size, col)
            finally:
                _load_query(body.qbits, body.scratch, idx, w, False)
                _hold(self.rare_scratch, idx, w, False)
            out[:, 2] = col
        return out

    def open(self, story_id: str, day: int | None) -> int:
        """A new empty story; returns its slot."""
        slot = len(self.stories)
        self.stories.append(_Story(slot, story_id, day, day))
        self.by_id[story_id] = slot
        if slot >= self.first.size:
            self.first = np.resize(self.first, 2 * slot)
            self.last = np.resize(self.last, 2 * slot)
            self.sizes = np.resize(self.sizes, 2 * slot)
            self.sizes[slot:] = 0
        self.first[slot] = self.last[slot] = NO_DAY if day is None else day
        return slot

    def weigh_and_add(self, doc: Doc, slot: int) -> None:
        """Insert ``doc`` into the story at ``slot`` without a decision (replaying an old assignment)."""
        vecs = self.weigh(doc)
        self.candidates(doc, vecs)
        self.add(doc, vecs, slot)

    def add(self, doc: Doc, vecs: list[tuple[np.ndarray, np.ndarray]], slot: int) -> None:
        """Insert ``doc`` into the story at ``slot`` (after :meth:`candidates` on the same doc)."""
        if self.n_docs >= self.doc_story.size:
            self.doc_story = np.resize(self.doc_story, 2 * self.n_docs)
        self.doc_story[self.n_docs] = slot
        dots = self._dots_with(slot)
        body = self.reps[0]  # w times the IDF of the rare query, if the IDF cannot have changed since
        weighted = self._weighted[1] if body.frozen and self._weighted[0] is vecs[0][1] else None
        for k, (rep, (idx, w)) in enumerate(zip(self.reps, vecs)):
            rep.add(self.n_docs, slot, idx, w, dots[k], weighted if k == 0 else None)
        self._dots = self._set = None
        self.n_docs += 1
        story = self.stories[slot]
        story.size += 1
        self.sizes[slot] = story.size
        story.figures |= doc.figures
        if doc.day is not None:
            story.first_day = doc.day if story.first_day is None else min(story.first_day, doc.day)
            story.last_day = doc.day if story.last_day is None else max(story.last_day, doc.day)
            self.first[slot], self.last[slot] = story.first_day, story.last_day
            self.newest = doc.day if self.newest is None else max(self.newest, doc.day)
        self._unindexed += 1
        if self._unindexed >= max(REBUILD_MIN, self.reps[0].indexed // REBUILD_SHARE):
            self.rebuild()

    def _dots_with(self, slot: int) -> list[float]:
        """The last :meth:`candidates` doc's dots with the centroid of story ``slot``, one per
        representation (0 if not a candidate)."""
        if self._dots is None:
            return [0.0, 0.0, 0.0]
        pos = int(np.searchsorted(self._slots, slot))
        if pos < self._slots.size and self._slots[pos] == slot:
            return [self._dots[k, pos] for k in range(3)]
        return [0.0, 0.0, 0.0]

    def rebuild(self) -> None:
        """Fold the recent postings into the inverted index and evict stories out of the window:
        their member vectors, names and figures go, so memory follows the active stories."""
        n_slots, self._unindexed = len(self.stories), 0
        live = np.ones(n_slots, np.bool_)
        if self.evict and self.newest is not None:  # a story of unknown date is kept
            last = self.last[:n_slots]
            live = (last == NO_DAY) | (last >= self.newest - self.window_days)
        gone: set[int] = set()
        for rep in self.reps:
            held = rep.stored(self.n_docs)
            kept = live[self.doc_story[held]]
            gone.update(np.unique(self.doc_story[held[~kept]]).tolist())
            rep.rebuild(held[kept])
        for slot in gone:
            self.stories[slot].figures = set()
        # The old postings and the store's old room are freed blocks of a few to tens of MB, which
        # glibc's heap keeps: handed back, a slice's worker stays ~110 MB lower at 1M (same CPU).
        release_memory()


@dataclass
class Decision:
    """Where an article went and why."""

    article_id: str
    story_id: str
    score: float
    reason: str  # previous | reuse | merge | new


class DocSource:
    """Articles in stream order whose :class:`Doc` are built a chunk at a time when asked for, so
    clustering holds one chunk's features plus the active stories, never the whole run's."""

    def __init__(self, ids: list[str], days: list[int | None], load: Callable[[list[int]], list[Doc]],
                 chunk: int = 4096) -> None:
        self.ids, self.days, self._load, self.chunk = ids, days, load, chunk

    @classmethod
    def of(cls, docs: list[Doc]) -> DocSource:
        """A source over docs already built."""
        return cls([d.article_id for d in docs], [d.day for d in docs], lambda rows: [docs[i] for i in rows])

    @classmethod
    def of_terms(cls, terms: pa.Table, rows: list[int] | np.ndarray, days: list[int | None]) -> DocSource:
        """A source over ``terms`` rows ``rows`` (in stream order; ``days``: their day ordinals)."""
        at = np.asarray(rows, np.int64)
        ids = terms["article_id"].take(pa.array(at)).to_pylist() if at.size else []
        return cls(ids, days, lambda some: docs_from_terms(terms.take(pa.array(at[some])), [days[i] for i in some]))

    def select(self, keep: Callable[[str], bool]) -> Iterator[Doc]:
        """The docs whose id ``keep`` accepts, in stream order."""
        rows = [i for i, a in enumerate(self.ids) if keep(a)]
        for k in range(0, len(rows), self.chunk):
            yield from self._load(rows[k:k + self.chunk])


def stream(
    docs: list[Doc] | DocSource,
    previous: dict[str, str],
    reuse: dict[str, list[tuple[str, int]]],
    window_days: int = 7,
    threshold: float = MERGE_THRESHOLD,
    weights: tuple[float, ...] = WEIGHTS,
    bias: float = BIAS,
    idf: str = "batch",
    df: DF | None = None,
    replay: set[str] | None = None,
) -> list[Decision]:
    """Assign ``docs`` (in the order given) to stories; ids in ``previous`` keep their story.

    Args:
        docs: featurized articles, already sorted in stream order (or a :class:`DocSource`).
        previous: article id -> story id for articles assigned by an earlier run.
        reuse: article id -> [(partner id, shared words)] for decisive reuse links.
        window_days: a story stays active this many days after its last article.
        threshold: merge probability needed to join the best active story.
        idf: ``batch`` counts document frequencies over all ``docs`` up front (old and new
            articles of this run); ``incremental`` counts only the articles before each one.
        df: document frequencies over the whole archive, new articles included (overrides
            ``idf``); then ``docs`` need only hold the new articles and the old stories around them.
        replay: the old articles to replay (default: :func:`replayed_ids` of ``docs``).

    Returns:
        One :class:`Decision` per doc, in the order given.
    """
    source = docs if isinstance(docs, DocSource) else DocSource.of(list(docs))
    index = StoryIndex(window_days)
    if df is not None:
        index.set_df(df)
    elif idf == "batch":
        index.count_df(source.select(lambda a: True))
    assigned = dict(previous)
    if replay is None:
        replay = replayed_ids(list(zip(source.ids, source.days)), previous, window_days)
    # Old stories first, whole (members dated after a new article included), then the new articles:
    # a late-arriving article sees the archive as it stands. No eviction while replaying.
    index.evict = False
    for doc in source.select(replay.__contains__):
        slot = index.by_id.get(previous[doc.article_id])
        index.weigh_and_add(doc, index.open(previous[doc.article_id], doc.day) if slot is None else slot)
    index.evict, index.newest = True, None
    index.rebuild()
    out = [Decision(a, s, float("nan"), "previous") for a, s in previous.items()]
    for doc in source.select(lambda a: a not in previous):
        vecs = index.weigh(doc)
        slots, x = index.candidates(doc, vecs, set_features=True)
        story_id, score, reason = _decide(doc, slots, x, index, assigned, reuse, threshold, weights, bias)
        slot = index.by_id.get(story_id)
        index.add(doc, vecs, index.open(story_id, doc.day) if slot is None else slot)
        assigned[doc.article_id] = story_id
        out.append(Decision(doc.article_id, story_id, score, reason))
    return out


def replayed_ids(items: list[tuple[str, int | None]], previous: dict[str, str], window_days: int) -> set[str]:
    """Ids of the old articles (in ``previous``) whose story a new article could join; ``items`` are
    (article id, day ordinal) of every article.

    A story is kept when it spans within ``window_days`` of a dated new article. Undated articles
    come last in the stream, when the index holds the stories active within ``window_days`` of the
    newest article: an undated new article keeps those. An undated old story never leaves the
    index, so it is always kept.
    """
    new_days = [day for a, day in items if a not in previous]
    if not new_days:
        return set()
    span: dict[str, list[int | None]] = {}
    for a, day in items:
        if a in previous:
            span.setdefault(previous[a], []).append(day)
    known = [d for d in new_days if d is not None]
    lo, hi = (min(known) - window_days, max(known) + window_days) if known else (None, None)
    dated = [d for _, d in items if d is not None]
    recent = max(dated) - window_days if len(known) < len(new_days) and dated else None

    def meets(days: list[int | None]) -> bool:
        if None in days:
            return True
        if known and max(days) >= lo and min(days) <= hi:  # type: ignore[operator]
            return True
        return recent is not None and max(days) >= recent  # type: ignore[type-var]

    keep = {s for s, days in span.items() if meets(days)}
    return {a for a, _ in items if a in previous and previous[a] in keep}


def _decide(doc: Doc, slots: list[int], x: np.ndarray, index: StoryIndex, assigned: dict[str, str],
            reuse: dict[str, list[tuple[str, int]]], threshold: float, weights: tuple[float, ...],
            bias: float) -> tuple[str, float, str]:
    if doc.article_id in assigned:
        return assigned[doc.article_id], float("nan"), "previous"
    partners = [(words, p) for p, words in reuse.get(doc.article_id, ()) if p in assigned]
    if partners:
        return assigned[max(partners)[1]], 1.0, "reuse"
    if len(slots):
        best, p = _best(doc, slots, x, index, weights, bias, threshold)
        if p >= threshold:
            return index.stories[best].story_id, p, "merge"
    story_id = model.stable_id("story", doc.article_id)
    return story_id, 1.0, "new"


@functools.lru_cache(maxsize=16)
def _lazy_bounds(weights: tuple[float, ...], bias: float, threshold: float) -> tuple[np.ndarray, float, float]:
    """The weights as an array, the most the set features can add to the score, and the score a
    story must reach to merge (the same for every article: worked out once)."""
    w = np.asarray(weights, np.float64)
    w.flags.writeable = False
    lazy_max = np.clip(w[LAZY:], 0, None).sum()
    floor = np.log(threshold / (1.0 - threshold)) - bias if 0.0 < threshold < 1.0 else -np.inf
    return w, lazy_max, floor


def _best(doc: Doc, slots: np.ndarray, x: np.ndarray, index: StoryIndex, weights: tuple[float, ...],
          bias: float, threshold: float = 0.0) -> tuple[int, float]:
    """The most probable story; the set features are only computed for stories that could still
    win, and (given ``threshold``) still reach the merge threshold: the others cannot change the decision."""
    w, lazy_max, floor = _lazy_bounds(weights, bias, threshold)
    partial = x[:, :LAZY] @ w[:LAZY]
    sel = np.flatnonzero((partial >= partial.max() - lazy_max) & (partial + lazy_max >= floor))
    if sel.size > MAX_LAZY:  # a dense stream: only the strongest contenders get the set features
        sel = np.sort(sel[np.argsort(-partial[sel], kind="stable")[:MAX_LAZY]])
    # Shared figures can only lower a score (a negative weight): they are worked out only for the
    # rows that could still be the most probable, until every row left without them is below the
    # best. The rows that decide are then as before, and so are the best row and its probability.
    lower = bool(doc.figures) and w[LAZY] <= 0
    if sel.size:
        x[sel, LAZY:] = index.lazy_features(doc, slots, sel, figures=not lower)
    p = merge_probability(x, w, bias)  # type: ignore[arg-type]
    if lower and sel.size:
        left = np.zeros(len(slots), bool)
        left[sel] = True
        while (need := np.flatnonzero(left & (p >= p.max()))).size:
            x[need, LAZY] = index.shared_figures(doc, np.asarray(slots)[need])
            left[need] = False
            p = merge_probability(x, w, bias)  # type: ignore[arg-type]
    best = int(np.argmax(p))
    return int(slots[best]), float(p[best])


def stream_order(row: dict) -> tuple:
    """Sort key of the stream: publication date, then the full timestamp, then the id."""
    return _order_key(row.get("published"), row["article_id"])


def stream_columns(articles: pa.Table) -> tuple[pa.Array, list[int | None]]:
    """The ``article_id`` of ``articles`` sorted by :func:`stream_order`, and their day ordinals,
    sorted by Arrow: the dates are parsed once per distinct ``published`` value, not per article."""
    published = articles["published"].combine_chunks() if articles.num_rows else pa.array([], pa.string())
    encoded = pc.dictionary_encode(published)
    values = [_day(v) for v in encoded.dictionary.to_pylist()]
    code = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    day_of = np.array([10**9 if d is None else d for d in values] + [10**9], np.int64)
    keys = pa.table({"day": day_of[code], "published": pc.fill_null(published, ""),
                     "article_id": articles["article_id"]})
    order = pc.sort_indices(keys, [("day", "ascending"), ("published", "ascending"), ("article_id", "ascending")])
    at = [*values, None]
    return keys["article_id"].take(order).combine_chunks(), [at[c] for c in code[order.to_numpy()].tolist()]


def _order_key(published: str | None, article_id: str) -> tuple:
    day = _day(published)
    return (day if day is not None else 10**9, published or "", article_id)


def roles(member_ids: list[str], reuse: list[tuple[str, str]],
          undirected: list[tuple[str, str]] = ()) -> dict[str, str]:  # type: ignore[assignment]
    """origin (only ever copied from), copy (copied something), reuse (shares passages, direction
    unknown) or independent (no reuse)."""
    sources = {s for s, _ in reuse}
    copies = {c for _, c in reuse}
    linked = {a for pair in undirected for a in pair}
    return {
        a: "copy" if a in copies else "origin" if a in sources else "reuse" if a in linked else "independent"
        for a in member_ids
    }


def _reuse_links(edge_rows: list[dict]) -> dict[str, list[tuple[str, int]]]:
    links: dict[str, list[tuple[str, int]]] = {}
    for e in edge_rows:
        links.setdefault(e["source_id"], []).append((e["copy_id"], e["shared_words"]))
        links.setdefault(e["copy_id"], []).append((e["source_id"], e["shared_words"]))
    return links


@dataclass(frozen=True)
class Segment:
    """A time slice of the new articles that is clustered on its own (see :func:`plan_segments`)."""

    core: list[str]  # the new articles it decides, in stream order
    warm: list[str]  # new articles of the window before it, clustered again only to tie its stories to the earlier slice
    replay: list[str]  # old articles (placed by an earlier run) whose stories its articles could join


# A slice holds at least this many times the articles of the window before it, which it clusters
# again as its warm-up: re-done work stays under a quarter, and a dense stream is not cut at all.
WARM_RATIO = 4


def plan_segments(items: list[tuple[str, int | None]], placed: dict[str, str], size: int,
                  window_days: int) -> list[Segment]:
    """Cut the new articles of ``items`` (every article's (id, day ordinal), in stream order) into
    slices of at least ``size`` articles (the last: half), each cut at a change of day.

    Stories are active for ``window_days``: a slice that first clusters the articles of the
    window before it (its warm-up) sees the stories then active, and those warm-up articles,
    placed by the slice before, tell which of its stories continue which earlier ones
    (:func:`stitch`). Slices are cut from the data alone, never from the number of workers, so
    the stories are the same however many run at once. Undated articles come last and are never cut.
    """
    ids = pa.array([a for a, _ in items], pa.string())
    return _plan(ids, [d for _, d in items], np.array([a in placed for a, _ in items], bool), placed,
                 size, window_days)


def _plan(ids: pa.Array, days: list[int | None], is_old: np.ndarray, placed: dict[str, str], size: int,
          window_days: int) -> list[Segment]:
    """:func:`plan_segments` of the articles ``ids`` (stream order) with their ``days``, ``is_old``
    marking those ``placed`` names: Python strings only for the ids the slices list."""
    new_at = np.flatnonzero(~is_old)
    new_days = [days[i] for i in new_at.tolist()]
    new_ids = ids.take(pa.array(new_at))
    cuts, lo = [0], 0  # lo: first new article within the window before the candidate cut
    for i in range(1, len(new_days)):
        day, before = new_days[i], new_days[i - 1]
        if day is None or day == before:
            continue
        while new_days[lo] is not None and new_days[lo] < day - window_days:
            lo += 1
        if i - cuts[-1] >= max(size, WARM_RATIO * (i - lo)) and 2 * (len(new_days) - i) >= size:
            cuts.append(i)
    old_at = np.flatnonzero(is_old).tolist()
    old = list(zip(ids.take(pa.array(old_at, pa.int64())).to_pylist(), [days[i] for i in old_at]))
    out = []
    for j, start in enumerate(cuts):
        end = cuts[j + 1] if j + 1 < len(cuts) else len(new_days)
        first = start
        if start:
            while first > 0 and new_days[first - 1] is not None and new_days[first - 1] >= new_days[start] - window_days:
                first -= 1
        replay: set[str] = set()
        if old:
            mine = list(zip(new_ids.slice(first, end - first).to_pylist(), new_days[first:end]))
            replay = replayed_ids(old + mine, placed, window_days)
        out.append(Segment(new_ids.slice(start, end - start).to_pylist(), new_ids.slice(first, start - first).to_pylist(),
                           [a for a, _ in old if a in replay]))
    return out


EXTERNAL = "after:"  # placeholder story of a slice's article that follows a reuse partner of an earlier slice


def stitch(decisions: pa.Table, old_stories: set[str] | pa.Array = frozenset()) -> Iterator[dict]:
    """The new articles' rows (story_id, article_id, score, reason) of the slices' ``decisions``
    (a :data:`model.CLUSTER_DECISION` table), as one stream would have placed them.

    Slices are joined in order. A slice's story takes the story its warm-up members were given by
    the slices before (the most of them; ties to the smaller id): a story running across a cut
    keeps one id. Stories of ``old_stories`` (an earlier run's) keep theirs.
    """
    for table in stitched(decisions, old_stories):
        yield from table.to_pylist()


STITCHED = pa.schema([("story_id", pa.string()), ("article_id", pa.string()), ("score", pa.float64()),
                      ("reason", pa.string())])


def stitched(decisions: pa.Table, old_stories: set[str] | pa.Array = frozenset()) -> Iterator[pa.Table]:
    """:func:`stitch`'s rows, one table per slice: Python objects for one slice at a time, never
    for the whole run. A slice looks up the final stories of only the earlier articles it names
    (its warm-up, its reuse partners), in the tables already yielded."""
    decisions = decisions.take(pc.sort_indices(decisions, [("segment", "ascending")]))  # stable: stream order kept
    old = old_stories if isinstance(old_stories, pa.Array) else pa.array(sorted(old_stories), pa.string())
    segment = decisions["segment"].to_numpy()
    bounds = [0, *(np.flatnonzero(np.diff(segment)) + 1).tolist(), len(segment)]
    done: list[pa.Table] = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        part = decisions.slice(lo, hi - lo)
        cols = part.select(["article_id", "story_id", "score", "reason", "warm"]).to_pydict()
        is_old = pc.is_in(part["story_id"], value_set=old).to_pylist()
        rows = list(zip(*(cols[c] for c in ("article_id", "story_id", "score", "reason", "warm")), is_old))
        external = {s for s in cols["story_id"] if s.startswith(EXTERNAL)}
        final = _final_stories(done, {a for a, *_, warm, _ in rows if warm} | {s[len(EXTERNAL):] for s in external})
        votes: dict[str, dict[str, int]] = {}
        for a, s, _, _, warm, old_story in rows:
            if warm and a in final and not old_story:
                tally = votes.setdefault(s, {})
                tally[final[a]] = tally.get(final[a], 0) + 1
        remap = {s: min(tally.items(), key=lambda kv: (-kv[1], kv[0]))[0] for s, tally in votes.items()}
        for s in external:  # joined through a reuse partner of an earlier slice: that partner's story
            remap[s] = final[s[len(EXTERNAL):]]
        mine = [(remap.get(s, s), a, score, reason) for a, s, score, reason, warm, _ in rows if not warm]
        table = pa.table(dict(zip(STITCHED.names, zip(*mine))) if mine else STITCHED.empty_table().to_pydict(),
                         schema=STITCHED)
        done.append(table.select(["article_id", "story_id"]))
        yield table


def _final_stories(done: list[pa.Table], ids: set[str]) -> dict[str, str]:
    """article id -> story of ``ids`` in the slices ``done`` (the latest slice that placed one wins)."""
    want = pa.array(sorted(ids), pa.string())
    out: dict[str, str] = {}
    for table in reversed(done) if len(want) else ():
        hit = table.filter(pc.is_in(table["article_id"], value_set=want))
        for a, s in zip(hit["article_id"].to_pylist(), hit["story_id"].to_pylist()):
            out.setdefault(a, s)
    return out


def _placed(articles: pa.Table, previous: pa.Table | None) -> dict[str, str]:
    """article id -> story id of the articles of ``articles`` that ``previous`` placed."""
    if previous is None or not previous.num_rows:
        return {}
    members_in = set(articles["article_id"].to_pylist())
    return {a: s for a, s in zip(previous["article_id"].to_pylist(), previous["story_id"].to_pylist())
            if a in members_in}


@dataclass
class ClusterSegment:
    """Gather step: one slice's articles (id, published, warm, segment), reuse edges, the old placements,
    document frequencies and terms -> where its new articles go (:data:`model.CLUSTER_DECISION`).

    ``articles`` holds the slice's new articles (``warm`` marks its warm-up) and the old articles
    to replay; ``terms`` must hold all of them. ``previous`` places the old ones and the reuse
    partners outside the slice that come before it: an earlier slice's article under the
    placeholder story :data:`EXTERNAL` + its id, which :func:`stitch` resolves, so a decisive
    reuse link is followed across the cut exactly as one stream follows it. Slices are
    independent: a pool or a Ray cluster runs them side by side, and :class:`Stitch` joins them.
    """

    config: ClusterConfig = field(default_factory=ClusterConfig)
    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "published", "warm", "segment")
    output_schema: ClassVar[pa.Schema] = model.CLUSTER_DECISION

    def __call__(self, articles: pa.Table, edges: pa.Table | None, previous: pa.Table | None, df: pa.Table,
                 terms: pa.Table) -> pa.Table:
        ids, published = articles["article_id"].to_pylist(), articles["published"].to_pylist()
        order = sorted(range(len(ids)), key=lambda i: _order_key(published[i], ids[i]))
        placed = {} if previous is None else dict(zip(previous["article_id"].to_pylist(),
                                                      previous["story_id"].to_pylist()))
        days = [_day(p) for p in published]
        # terms row of each article in stream order (no dict of every id)
        rows = pc.index_in(articles["article_id"].take(pa.array(order, pa.int64())), terms["article_id"])
        if rows.null_count:
            missing = sorted(set(ids) - set(terms["article_id"].to_pylist()))
            raise ValueError(f"terms lack {len(missing)} article(s) clustering needs, e.g. {missing[0]}")
        source = DocSource.of_terms(terms, rows.to_numpy(), [days[i] for i in order])
        cfg = self.config
        links = _reuse_links(_strong_edges(edges, cfg.reuse_min_words))
        decisions = stream(source, placed, links, cfg.window_days, cfg.merge_threshold,
                           df=read_df(df), replay=set(placed) & set(ids))
        warm = {a for a, w in zip(ids, articles["warm"].to_pylist()) if w}
        new = [d for d in decisions if d.reason != "previous"]
        number = articles["segment"][0].as_py() if articles.num_rows else 0
        return pa.table({"segment": [number] * len(new), "article_id": [d.article_id for d in new],
                         "story_id": [d.story_id for d in new], "score": [d.score for d in new],
                         "reason": [d.reason for d in new], "warm": [d.article_id in warm for d in new]},
                        schema=self.output_schema)


@dataclass
class Stitch:
    """Gather step: articles (id, published), the slices' decisions, reuse edges, the previous
    stories and corrections -> story membership (:data:`model.STORY_MEMBER`).

    Joins the slices (:func:`stitch`), keeps the old articles' stories, applies the analysts'
    corrections, cuts oversized stories and gives each member its reuse role.
    """

    config: ClusterConfig = field(default_factory=ClusterConfig)
    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "published")
    output_schema: ClassVar[pa.Schema] = model.STORY_MEMBER

    def __call__(self, articles: pa.Table, decisions: pa.Table, edges: pa.Table | None = None,
                 previous: pa.Table | None = None, corrections: pa.Table | None = None) -> pa.Table:
        previous = model.STORY_MEMBER.empty_table() if previous is None else previous
        unique = [t["article_id"] for t in (articles, previous)]
        if (corrections is not None and corrections.num_rows) or any(pc.count_distinct(c).as_py() < len(c) for c in unique):
            return self._rows(articles, decisions, edges, previous, corrections)
        return self._columns(articles, decisions, edges, previous)

    def _rows(self, articles: pa.Table, decisions: pa.Table, edges: pa.Table | None, previous: pa.Table,
              corrections: pa.Table | None) -> pa.Table:
        """Stitch with a Python row per member: the analysts' corrections (and repeated ids) need them."""
        placed = _placed(articles, previous)
        old_score = {a: sc for a, sc in zip(previous["article_id"].to_pylist(), previous["score"].to_pylist())
                     if a in placed}
        members = [{"story_id": s, "article_id": a, "score": old_score[a]} for a, s in placed.items()]
        members += [{"story_id": r["story_id"], "article_id": r["article_id"], "score": r["score"]}
                    for r in stitch(decisions, set(placed.values()))]
        ids, published = articles["article_id"].to_pylist(), articles["published"].to_pylist()
        rank = {a: _order_key(published[i], a) for i, a in enumerate(ids)}
        if corrections is not None and corrections.num_rows:
            members = corrections_mod.apply(members, corrections, rank)
        flagged = {s for a, s, r in zip(previous["article_id"].to_pylist(), previous["story_id"].to_pylist(),
                                        previous["review"].to_pylist()) if r and a in placed}
        members = cap_size(members, rank, self.config.max_story_size, flagged)
        return _with_roles(members, _strong_edges(edges, self.config.reuse_min_words), self.output_schema)

    def _columns(self, articles: pa.Table, decisions: pa.Table, edges: pa.Table | None,
                 previous: pa.Table) -> pa.Table:
        """:meth:`_rows` in Arrow columns, for unique ids and no corrections: a million members cost
        their columns, not a million dicts (Python rows only for the stories cut by size)."""
        placed = previous.filter(pc.is_in(previous["article_id"], value_set=articles["article_id"]))
        new = pa.concat_tables(stitched(decisions, pc.unique(placed["story_id"])))
        members = pa.concat_tables([placed.select(["story_id", "article_id", "score"]),
                                    new.select(["story_id", "article_id", "score"])])
        flagged = pc.unique(placed.filter(pc.fill_null(placed["review"], False))["story_id"])
        story, review = _cap_columns(members, articles, self.config.max_story_size, flagged)
        members = members.set_column(0, "story_id", story)
        role = _role_column(members, strong_edges(edges, self.config.reuse_min_words)
                            if edges is not None and edges.num_rows else None)
        out = pa.table({"story_id": members["story_id"], "article_id": members["article_id"], "role": role,
                        "score": members["score"], "review": review}, schema=self.output_schema)
        return out.sort_by([("story_id", "ascending"), ("article_id", "ascending")])


def _cap_columns(members: pa.Table, articles: pa.Table, max_size: int,
                 flagged: pa.Array | pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.Array]:
    """:func:`cap_size` of ``members`` (story_id, article_id) as columns: each member's story and
    review flag. Only the stories larger than ``max_size`` are sorted (in Python) and cut."""
    sizes = members.group_by("story_id").aggregate([("article_id", "count")])
    big = sizes.filter(pc.greater(sizes["article_id_count"], max_size))["story_id"]
    review = pc.is_in(members["story_id"], value_set=flagged)
    story = members["story_id"]
    if not len(big):
        return story, review
    rows = np.flatnonzero(pc.is_in(story, value_set=big).to_numpy(zero_copy_only=False))
    cut = members.take(pa.array(rows))
    when = articles.filter(pc.is_in(articles["article_id"], value_set=cut["article_id"]))
    published = dict(zip(when["article_id"].to_pylist(), when["published"].to_pylist()))
    groups: dict[str, list[tuple[int, str]]] = {}
    for row, sid, a in zip(rows.tolist(), cut["story_id"].to_pylist(), cut["article_id"].to_pylist()):
        groups.setdefault(sid, []).append((row, a))
    new_story: dict[int, str] = {}
    for sid, ms in groups.items():
        ms.sort(key=lambda m: _order_key(published[m[1]], m[1]))
        for i in range(0, len(ms), max_size):
            part = ms[i:i + max_size]
            pid = sid if i == 0 else model.stable_id("story", part[0][1])
            for row, _ in part:
                new_story[row] = pid
    # scatter: the rows of the cut stories take their part's id, and are flagged
    at = np.fromiter(new_story, np.int64, len(new_story))
    mask = np.zeros(members.num_rows, bool)
    mask[at] = True
    slot = np.zeros(members.num_rows, np.int64)
    slot[at] = np.arange(len(at))
    replaced = pa.array(list(new_story.values()), pa.string()).take(pa.array(slot))
    return pc.if_else(pa.array(mask), replaced, story), pc.or_(review, pa.array(mask))


def _role_column(members: pa.Table, edges: pa.Table | None) -> pa.Array:
    """Each member's reuse role (:func:`roles`) from the strong ``edges`` whose ends share a story."""
    n = members.num_rows
    copy, source, linked = (np.zeros(n, bool) for _ in range(3))
    if edges is not None and edges.num_rows:
        src, cpy = (pc.fill_null(pc.index_in(edges[c], value_set=members["article_id"]), -1).to_numpy()
                    for c in ("source_id", "copy_id"))
        story = members["story_id"]
        both = (src >= 0) & (cpy >= 0)
        same = np.zeros(len(src), bool)
        if both.any():
            same[both] = pc.equal(story.take(pa.array(src[both])), story.take(pa.array(cpy[both]))).to_numpy(
                zero_copy_only=False)
        undecided = pc.equal(edges["reason"], "undecided").to_numpy(zero_copy_only=False)
        directed = same & ~undecided
        copy[cpy[directed]] = True
        source[src[directed]] = True
        linked[src[same & undecided]] = True
        linked[cpy[same & undecided]] = True
    role = np.where(copy, "copy", np.where(source, "origin", np.where(linked, "reuse", "independent")))
    return pa.array(role.astype(object), pa.string())


@dataclass
class Cluster:
    """Gather step: articles, their terms, reuse edges, the previous stories and corrections -> story membership.

    The whole of clustering in one call: :meth:`plan` cuts the new articles into time slices,
    :class:`ClusterSegment` places each slice's articles and :class:`Stitch` joins them. The
    pipeline runs the same three parts with the slices side by side.

    Example:
        >>> stories = Cluster()(articles, edges, previous=store.read("stories"))  # doctest: +SKIP
    """

    config: ClusterConfig = field(default_factory=ClusterConfig)
    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "published")
    edge_reads: ClassVar[tuple[str, ...]] = ("source_id", "copy_id", "shared_words", "reason")
    output_schema: ClassVar[pa.Schema] = model.STORY_MEMBER

    def __call__(self, articles: pa.Table, edges: pa.Table | None = None, previous: pa.Table | None = None,
                 corrections: pa.Table | None = None, df: pa.Table | None = None,
                 terms: pa.Table | None = None) -> pa.Table:
        """Stories of ``articles`` (id and publication date).

        ``terms`` (a :class:`Terms` table) holds the articles' features; without it they are
        computed from ``articles``' title and text. With ``df`` (:class:`CountDF` over every
        article, new ones included) only the articles that :meth:`needs_text` names are read from
        ``terms``, which may hold just those; without it every article is, to count them. The
        result is the same either way.
        """
        if not articles.num_rows:
            return self.output_schema.empty_table()
        plan = self.plan(articles, previous)
        if df is None or not df.num_rows:  # count every article (batch IDF)
            terms = Terms()(articles) if terms is None else terms
            df = CountDF()(terms)
        elif terms is None:
            need = pa.array(sorted({a for seg in plan for a in (*seg.core, *seg.warm, *seg.replay)}), pa.string())
            terms = Terms()(articles.filter(pc.is_in(articles["article_id"], need)))
        step = ClusterSegment(self.config)
        decisions = pa.concat_tables([step(*segment_input(k, seg, articles, edges, previous, df, terms))
                                      for k, seg in enumerate(plan)])
        return Stitch(self.config)(articles, decisions, edges, previous, corrections)

    def plan(self, articles: pa.Table, previous: pa.Table | None) -> list[Segment]:
        """The time slices of the articles that ``previous`` did not place (:func:`plan_segments`)."""
        ids, days = stream_columns(articles)
        placed = _placed(articles, previous)
        is_old = (pc.is_in(ids, value_set=pa.array(list(placed), pa.string())).to_numpy(zero_copy_only=False)
                  if placed else np.zeros(len(ids), bool))
        cfg = self.config
        return _plan(ids, days, is_old, placed, cfg.segment_articles, cfg.window_days)

    def needs_text(self, articles: pa.Table, previous: pa.Table | None) -> set[str]:
        """Ids whose terms a run with stored ``df`` reads: the articles not in ``previous`` and the
        old stories active around their dates (``articles``: id, published)."""
        return {a for seg in self.plan(articles, previous) for a in (*seg.core, *seg.warm, *seg.replay)}


def segment_input(number: int, seg: Segment, articles: pa.Table, edges: pa.Table | None, previous: pa.Table | None,
                  df: pa.Table, terms: pa.Table) -> tuple[pa.Table, ...]:
    """:class:`ClusterSegment`'s tables for slice ``number``, ``seg``: its articles (with the warm
    flag), the reuse edges touching them, the placements of its old articles and of its reuse
    partners placed before it (see :class:`ClusterSegment`), ``df`` and its rows of ``terms``."""
    ids = [*seg.replay, *seg.warm, *seg.core]
    wanted = pa.array(ids, pa.string())
    mine = articles.select(["article_id", "published"]).filter(pc.is_in(articles["article_id"], wanted))
    warm = set(seg.warm)
    mine = mine.append_column("warm", pa.array([a in warm for a in mine["article_id"].to_pylist()], pa.bool_()))
    mine = mine.append_column("segment", pa.array(np.full(mine.num_rows, number, np.int32)))
    outside: list[str] = []
    if edges is not None and edges.num_rows:
        edges = edges.filter(pc.or_(pc.is_in(edges["source_id"], wanted), pc.is_in(edges["copy_id"], wanted)))
        inside = set(ids)
        outside = sorted({a for col in ("source_id", "copy_id") for a in edges[col].to_pylist()} - inside)
    previous = model.STORY_MEMBER.empty_table() if previous is None else previous
    placed = previous.filter(pc.is_in(previous["article_id"], pa.array([*seg.replay, *outside], pa.string())))
    # partners that are new articles of an earlier slice: in the stream before the slice's first article
    head = (seg.warm or seg.core or [None])[0]
    published = dict(zip(mine["article_id"].to_pylist(), mine["published"].to_pylist()))
    first = None if head is None else _order_key(published[head], head)
    new_out = articles.filter(pc.is_in(articles["article_id"], pa.array(outside, pa.string())))
    new_out = new_out.filter(pc.invert(pc.is_in(new_out["article_id"], placed["article_id"])))
    before = [a for a, p in zip(new_out["article_id"].to_pylist(), new_out["published"].to_pylist())
              if first is not None and _order_key(p, a) < first]
    external = pa.table({"story_id": [EXTERNAL + a for a in before], "article_id": before,
                         "role": [""] * len(before), "score": [float("nan")] * len(before),
                         "review": [False] * len(before)}, schema=model.STORY_MEMBER)
    # The pipeline passes just the slice's rows: no copy of them then (a slice's terms, 225 MB at 1M).
    keep = pc.is_in(terms["article_id"], wanted)
    return (mine, edges, pa.concat_tables([placed.select(model.STORY_MEMBER.names).cast(model.STORY_MEMBER), external]),
            df, terms if pc.all(keep).as_py() else terms.filter(keep))


def strong_edges(edges: pa.Table, min_words: int) -> pa.Table:
    """The reuse edges long enough to decide a story."""
    return edges.filter(pc.greater_equal(edges["shared_words"], min_words))


def _strong_edges(edges: pa.Table | None, min_words: int) -> list[dict]:
    """:func:`strong_edges` as rows of the columns clustering reads."""
    if edges is None or not edges.num_rows:
        return []
    cols = [c for c in Cluster.edge_reads if c in edges.column_names]
    return strong_edges(edges.select(cols), min_words).to_pylist()


@dataclass
class CountDF:
    """Gather step: terms of articles not counted yet and the stored counts -> updated document frequencies.

    Clustering weighs terms by IDF over the whole archive; keeping the counts lets an incremental
    add count only its new articles instead of re-reading the archive.
    """

    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("article_id", "body_idx", "title_idx", "name_idx")
    output_schema: ClassVar[pa.Schema] = model.CLUSTER_DF

    def __call__(self, terms: pa.Table, df: pa.Table | None = None) -> pa.Table:
        old = read_df(df) if df is not None and df.num_rows else None
        return df_table(count_df(terms, old))


def cap_size(members: list[dict], order: dict[str, tuple], max_size: int, flagged: set[str]) -> list[dict]:
    """Cut stories larger than ``max_size`` into date-ordered parts, all flagged for review.

    The first part keeps the story id; later parts are named after their first article. Stories
    flagged by an earlier run (ids in ``flagged``) stay flagged.
    """
    groups: dict[str, list[dict]] = {}
    for m in members:
        groups.setdefault(m["story_id"], []).append(m)
    out = []
    for sid, ms in groups.items():  # rows are updated in place: a million copies would double the memory
        ms.sort(key=lambda m: order[m["article_id"]])
        if len(ms) <= max_size:
            for m in ms:
                m["review"] = sid in flagged
            out.extend(ms)
            continue
        for i in range(0, len(ms), max_size):
            part = ms[i:i + max_size]
            pid = sid if i == 0 else model.stable_id("story", part[0]["article_id"])
            for m in part:
                m["story_id"], m["review"] = pid, True
            out.extend(part)
    return out


def _with_roles(members: list[dict], edges: list[dict], schema: pa.Schema) -> pa.Table:
    story_of = {m["article_id"]: m["story_id"] for m in members}
    groups: dict[str, list[str]] = {}
    for m in members:
        groups.setdefault(m["story_id"], []).append(m["article_id"])
    # Each edge goes to its story once, so roles cost O(members + edges), not stories x edges.
    directed: dict[str, list[tuple[str, str]]] = {}
    undirected: dict[str, list[tuple[str, str]]] = {}
    for e in edges:
        sid = story_of.get(e["source_id"])
        if sid is None or sid != story_of.get(e["copy_id"]):
            continue
        bucket = undirected if e["reason"] == "undecided" else directed
        bucket.setdefault(sid, []).append((e["source_id"], e["copy_id"]))
    role: dict[str, str] = {}
    for sid, ids in groups.items():
        role.update(roles(ids, directed.get(sid, []), undirected.get(sid, [])))
    for m in members:
        m["role"] = role[m["article_id"]]
    members.sort(key=lambda r: (r["story_id"], r["article_id"]))
    return pa.Table.from_pylist(members, schema=schema)

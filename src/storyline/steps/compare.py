"""Story analysis: shared passages, what each outlet adds, figures, conflicts and corroboration.

A *fact* is something a story's articles carry: a passage that reuse alignment found in several
articles, a passage only one article carries, a figure (value + unit), or a direct quote. Each
fact row points to one carrier's exact offsets. ``origins`` counts independent origin chains:
carriers connected by reuse (their spans are aligned) share one origin, so five reprints of one
wire story count once while an outlet's own reporting of the same figure counts separately.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from typing import ClassVar

import numba
import numpy as np
import pyarrow as pa
from scipy import sparse

from .. import model
from ..textutil import tokenize, tokenize_many

MIN_UNIQUE_WORDS = 4


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):  # noqa: ANN001, ANN201 - any hashable
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:  # noqa: ANN001
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged ``[start, end)`` intervals."""
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def uncovered(text: str, covered: list[tuple[int, int]], min_words: int = MIN_UNIQUE_WORDS) -> list[tuple[int, int]]:
    """Paragraph pieces of ``text`` outside ``covered`` spans, trimmed, with >= ``min_words`` words."""
    return _uncovered_many([text], [covered], min_words)[0]


def _uncovered_many(texts: list[str], covered: list[list[tuple[int, int]]],
                    min_words: int = MIN_UNIQUE_WORDS) -> list[list[tuple[int, int]]]:
    """:func:`uncovered` of each text with its covered spans, all in one pass."""
    # One text of them all: a line break between two is a paragraph break, as within each.
    joined = "\n".join(texts)
    offsets = np.cumsum([0] + [len(t) + 1 for t in texts], dtype=np.int64)
    spans = [(off + s, off + min(e, len(t))) for t, c, off in zip(texts, covered, offsets.tolist())
             for s, e in merge_spans(c) if s < len(t)]  # what lies past a text covers nothing in it
    cover = np.array(spans, np.int64).reshape(-1, 2)
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32)
    starts, ends = _piece_spans(cp, cover[:, 0].copy(), cover[:, 1].copy(), _SPACE, _LEADING)
    enough = _has_words(joined, starts.tolist(), ends.tolist(), min_words)
    starts, ends = starts[enough], ends[enough]
    owner = np.searchsorted(offsets, starts, side="right") - 1
    bounds = np.searchsorted(owner, np.arange(len(texts) + 1)).tolist()
    pieces = list(zip((starts - offsets[owner]).tolist(), (ends - offsets[owner]).tolist()))
    return [pieces[bounds[k]:bounds[k + 1]] for k in range(len(texts))]


HEAD = 48  # characters of a piece whose words are counted first: most reach the minimum in them


def _has_words(text: str, starts: list[int], ends: list[int], min_words: int) -> np.ndarray:
    """Whether each piece ``text[s:e]`` has ``min_words`` words or more (as :func:`tokenize` counts).

    A piece's first :data:`HEAD` characters hold no more words than the piece (each word there
    starts one of the piece), so most pieces are decided by their head; only long ones short of
    words there are counted in full.
    """
    if not starts:
        return np.zeros(0, bool)
    enough = np.diff(tokenize_many([text[s:min(e, s + HEAD)] for s, e in zip(starts, ends)])[1]) >= min_words
    rest = [k for k in np.flatnonzero(~enough).tolist() if ends[k] - starts[k] > HEAD]
    if rest:
        enough[rest] = np.diff(tokenize_many([text[starts[k]:ends[k]] for k in rest])[1]) >= min_words
    return enough


# Whitespace as str.isspace has it (no character outside the BMP is one), and what a piece loses
# at its start.
_SPACE = np.array([chr(c).isspace() for c in range(65536)], np.bool_)
_LEADING = np.zeros(65536, np.bool_)
_LEADING[[ord(c) for c in " ,.;:—–-\"'”’"]] = True


@numba.njit(cache=True, nogil=True)
def _is(table: np.ndarray, c: np.uint32) -> bool:
    return c < 65536 and table[c]


@numba.njit(cache=True, nogil=True)
def _piece_spans(cp: np.ndarray, cov_s: np.ndarray, cov_e: np.ndarray, space: np.ndarray,
                 leading: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code-point spans of the pieces :func:`uncovered` weighs: each line less its outer whitespace
    is a paragraph (as :func:`~storyline.textutil.paragraphs` has them); the sorted, apart covered
    spans cut it into pieces, each stripped of ``leading`` at its start and of whitespace at its
    end, kept if anything is left."""
    n = cp.size
    out_s = np.empty(n + 2 * cov_s.size + 1, np.int64)
    out_e = np.empty(n + 2 * cov_s.size + 1, np.int64)
    m = 0
    i = 0
    while i < n:
        j = i
        while j < n and cp[j] != 10:
            j += 1
        ps, pe = i, j
        while ps < pe and _is(space, cp[ps]):
            ps += 1
        while pe > ps and _is(space, cp[pe - 1]):
            pe -= 1
        if pe > ps:
            cur = ps
            k = np.searchsorted(cov_e, cur, side="right")  # the first covered span ending past cur
            while True:
                last = not (k < cov_s.size and cov_s[k] < pe)
                s, e = cur, pe if last else cov_s[k]
                while s < e and _is(leading, cp[s]):
                    s += 1
                while e > s and _is(space, cp[e - 1]):
                    e -= 1
                if e > s:
                    out_s[m] = s
                    out_e[m] = e
                    m += 1
                if last:
                    break
                cur = max(cur, cov_e[k])
                k += 1
        i = j + 1
    return out_s[:m].copy(), out_e[:m].copy()


def passage_groups(alignments: list[dict]) -> list[dict[str, tuple[int, int]]]:
    """Connected groups of aligned spans: each maps article_id -> its (merged) span in the group."""
    uf = _UnionFind()
    spans_by_article: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for al in alignments:
        a, b = (al["a_id"], al["a_start"], al["a_end"]), (al["b_id"], al["b_start"], al["b_end"])
        uf.union(a, b)
        spans_by_article[al["a_id"]].append(a[1:])
        spans_by_article[al["b_id"]].append(b[1:])
    for aid, spans in spans_by_article.items():  # overlapping spans in one article are one passage
        ordered = sorted(set(spans))
        for (s1, e1), (s2, e2) in zip(ordered, ordered[1:]):
            if s2 < e1:
                uf.union((aid, s1, e1), (aid, s2, e2))
    groups: dict = defaultdict(lambda: defaultdict(list))
    for node in list(uf.parent):
        groups[uf.find(node)][node[0]].append(node[1:])
    result = []
    for g in groups.values():
        result.append({aid: (min(s for s, _ in sp), max(e for _, e in sp)) for aid, sp in g.items()})
    return sorted(result, key=lambda g: sorted(g.items()))


def _within(span: tuple[int, int], outer: tuple[int, int], cover: float = 0.9) -> bool:
    # Aligned passages stop at the last matching word, so a span ending in "." or "," sticks out
    # by a character or two: mostly covered counts as inside.
    size = max(1, span[1] - span[0])
    return (min(outer[1], span[1]) - max(outer[0], span[0])) / size >= cover


Aligned = dict[str, dict[str, list[tuple[tuple[int, int], tuple[int, int]]]]]


def _aligned(alignments: list[dict]) -> Aligned:
    """Alignment spans by article, then by partner article: ``{x: {y: [(span in x, span in y)]}}``."""
    out: Aligned = defaultdict(lambda: defaultdict(list))
    for al in alignments:
        sa, sb = (al["a_start"], al["a_end"]), (al["b_start"], al["b_end"])
        out[al["a_id"]][al["b_id"]].append((sa, sb))
        out[al["b_id"]][al["a_id"]].append((sb, sa))
    return out


def figure_origins(carriers: list[dict], aligned: Aligned) -> int:
    """Independent chains among carriers of a figure or quote: two carriers share a chain when
    their spans sit inside a passage aligned between their articles (``aligned`` as :func:`_aligned`)."""
    articles = {c["article_id"] for c in carriers}
    if len(articles) < 2 or not any(a in aligned for a in articles):
        return len(articles)
    uf = _UnionFind()
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for c in carriers:
        uf.find(c["article_id"])
        spans[c["article_id"]].append((c["start"], c["end"]))
    # Only articles aligned with each other can join: walk each carrier article's alignment
    # partners, not every pair of carriers (a big story's figure has many).
    for x, xs in spans.items():
        partners = aligned.get(x, {})
        for y in (spans if len(spans) < len(partners) else partners):
            if y not in spans or y not in partners or uf.find(x) == uf.find(y):
                continue
            ys = spans[y]
            if any(_within(cx, sx) and _within(cy, sy) for sx, sy in partners[y] for cx in xs for cy in ys):
                uf.union(x, y)
    return len({uf.find(a) for a in spans})


_CONTENT = re.compile(r"[A-Za-z]{4,}")

Row = tuple  # one FACT row, its values in the schema's column order


def _fact(story_id: str, fact_id: str, kind: str, article_id: str, start: int, end: int, label: str, status: str,
          outlets: int, origins: int, detail: str | None) -> Row:
    """One FACT row (one carrier of one fact)."""
    return story_id, fact_id, kind, article_id, start, end, label, status, outlets, origins, detail


@dataclass
class _Found:
    """What is worked out for many stories at once, looked up per story: each article's unique
    pieces, figure contexts' content words (:func:`_content_words`; more are added as found), the
    conflicting figures, the words of each quote that another article's quote may repeat
    (:func:`_same_quotes`)."""

    unique: dict[str, list[tuple[int, int]]]
    contexts: dict[str | None, set[str]]
    conflicts: set[str]
    quote_words: dict[str, list[str]]


def _find(stories: dict[str, tuple[list[dict], list[dict], list[dict], list[dict]]]) -> _Found:
    """:class:`_Found` of ``stories`` (id -> articles, alignments, figures, quotes)."""
    arts = [a for s in stories.values() for a in s[0]]
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for _, als, _, _ in stories.values():
        for al in als:
            covered[al["a_id"]].append((al["a_start"], al["a_end"]))
            covered[al["b_id"]].append((al["b_start"], al["b_end"]))
    unique = _uncovered_many([a["text"] for a in arts], [covered.get(a["article_id"], []) for a in arts])
    # Only a story of two outlets or more can hold a conflict; other figures' context words are
    # found when wanted (_figure_facts).
    figures = [(sid, f) for sid, s in stories.items() if len({a["outlet"] for a in s[0]}) > 1 for f in s[2]]
    contexts = {c: _content_words(c) for c in {f["context"] for _, f in figures}}
    outlet = {a["article_id"]: a["outlet"] for a in arts}
    repeatable = {q["quote"] for s in stories.values() if len({q["article_id"] for q in s[3]}) > 1 for q in s[3]}
    return _Found(unique=dict(zip((a["article_id"] for a in arts), unique)), contexts=contexts,
                  conflicts=_conflicts(figures, contexts, outlet), quote_words=_words_of(repeatable))


def _words_of(texts: set[str]) -> dict[str, list[str]]:
    """:func:`tokenize`'s words of each text, from one scan of them all (no word spans two texts)."""
    ordered = sorted(texts)
    joined = "\n".join(ordered)  # "\n" is not a word character, nor joins two words
    tokens = tokenize(joined)
    starts = np.cumsum([0] + [len(t) + 1 for t in ordered[:-1]], dtype=np.int64)
    bounds = np.append(np.searchsorted(tokens.starts, starts), len(tokens)).tolist() if ordered else [0]
    words = tokens.words
    return {t: words[bounds[k]:bounds[k + 1]] for k, t in enumerate(ordered)}


def analyze_story(story_id: str, articles: list[dict], alignments: list[dict], figures: list[dict],
                  quotes: list[dict] | None = None) -> list[dict]:
    """All fact rows of one story."""
    story = (articles, alignments, figures, quotes or [])
    rows = _story_rows(story_id, *story, _find({story_id: story}))
    return [dict(zip(model.FACT.names, r)) for r in rows]


def _story_rows(story_id: str, articles: list[dict], alignments: list[dict], figures: list[dict],
                quotes: list[dict], found: _Found) -> list[Row]:
    """All fact rows of one story, as :func:`_fact` tuples; ``found`` holds (at least) the story's."""
    outlet = {a["article_id"]: a["outlet"] for a in articles}
    rows: list[Row] = []

    def add(kind: str, key: object, carriers: list[tuple[str, int, int]], label: str, status: str, origins: int) -> None:
        fact_id = model.stable_id(story_id, kind, key)
        n_out = len({outlet[c[0]] for c in carriers})
        for aid, s, e in sorted(carriers):
            rows.append(_fact(story_id, fact_id, kind, aid, s, e, label, status, n_out, origins, None))

    text = {a["article_id"]: a["text"] for a in articles}
    for g in passage_groups(alignments) if alignments else []:
        first = min(g)
        s, e = g[first]
        add("passage", (first, s, e), [(aid, *sp) for aid, sp in g.items()], text[first][s:e][:300],
            "shared" if len(g) > 1 else "only_here", 1)
    for a in articles:  # one carrier each: add's general path not needed
        aid, txt = a["article_id"], a["text"]
        for s, e in found.unique[aid]:
            rows.append(_fact(story_id, model.stable_id(story_id, "unique", (aid, s, e)), "unique", aid, s, e,
                              txt[s:min(e, s + 300)], "only_here", 1, 1, None))
    aligned = _aligned(alignments) if figures or quotes else {}
    rows.extend(_figure_facts(story_id, figures, aligned, outlet, found))
    rows.extend(_quote_facts(story_id, quotes, aligned, outlet, found))
    return rows


def lineage(a: str, b: str) -> str:
    """How quote ``b`` relates to quote ``a``: verbatim, trimmed (one inside the other) or altered."""
    return _lineage(tokenize(a).words, tokenize(b).words)


def _lineage(wa: list[str], wb: list[str]) -> str:
    """:func:`lineage` of two quotes' normalised words."""
    if wa == wb:
        return "verbatim"
    sa, sb = " ".join(wa), " ".join(wb)
    return "trimmed" if sa in sb or sb in sa else "altered"


def _quote_key(words: list[str]) -> tuple[list[str], set[tuple[str, ...]]]:
    return words, {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def _same_key(ka: tuple[list[str], set], kb: tuple[list[str], set], min_overlap: float = 0.6) -> bool:
    (ta, ga), (tb, gb) = ka, kb
    if not ga or not gb:
        return ta == tb and bool(ta)
    return len(ga & gb) / min(len(ga), len(gb)) >= min_overlap


def _quote_facts(story_id: str, quotes: list[dict], aligned: Aligned, outlet: dict[str, str],
                 found: _Found) -> list[Row]:
    """One fact per distinct quote across the story, with each carrier's lineage to the first."""
    qs = sorted(quotes, key=lambda q: (q["article_id"], q["start"]))
    rows = []
    for members in _same_quotes(qs, found.quote_words):
        carriers = [qs[i] for i in members]
        first = carriers[0]
        speaker = next((c["speaker"] for c in carriers if c.get("speaker")), None)
        fact_id = model.stable_id(story_id, "quote", first["article_id"], first["start"])
        n_out = len({outlet[c["article_id"]] for c in carriers})
        origins = figure_origins(carriers, aligned)
        label = f"{speaker or '?'}: {first['quote'][:200]}"
        status = "shared" if n_out > 1 else "only_here"
        for i, c in zip(members, carriers):
            rows.append(_fact(story_id, fact_id, "quote", c["article_id"], c["start"], c["end"], label, status,
                              n_out, origins, "verbatim" if i == members[0] else
                              _lineage(found.quote_words[first["quote"]], found.quote_words[c["quote"]])))
    return rows


def _same_quotes(qs: list[dict], words: dict[str, list[str]]) -> list[list[int]]:
    """Indices of ``qs`` grouped into distinct quotes (each group and the groups in first-index
    order): quotes of different articles whose trigrams (or, under three words, words) mostly
    agree. ``words`` holds the words of each quote, where quotes of two articles or more are given."""
    if len({q["article_id"] for q in qs}) < 2:  # one article: no other article's quote to be the same
        return [[i] for i in range(len(qs))]
    uf = _UnionFind()
    keys = [_quote_key(words[q["quote"]]) for q in qs]
    # Only quotes sharing a trigram (or, under three words, all their words) can be the same quote:
    # an index of earlier quotes keeps a big story from comparing every pair.
    seen: dict[object, list[int]] = defaultdict(list)
    for i, q in enumerate(qs):
        uf.find(i)
        ws, grams = keys[i]
        handles = grams or ({tuple(ws)} if ws else set())
        for j in {j for h in handles for j in seen[h]}:  # a component's root is its least index, whatever the order
            if qs[j]["article_id"] != q["article_id"] and _same_key(keys[j], keys[i]):
                uf.union(j, i)
        for h in handles:
            seen[h].append(i)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(qs)):
        groups[uf.find(i)].append(i)
    return list(groups.values())


def _content_words(context: str | None) -> set[str]:
    """The content words (four letters or more) of a figure's sentence, lowercased."""
    return set(_CONTENT.findall((context or "").lower()))


def _conflicts(figures: list[tuple[str, dict]], contexts: dict[str | None, set[str]],
               outlet: dict[str, str]) -> set[str]:
    """``figure_id``s in conflict: another figure of the same story and unit, with another value,
    article and outlet, in a sentence that says the same thing (half the content words of the
    shorter shared, so at least one).

    ``figures`` are (story id, figure) pairs, ``contexts`` the content words of each context. A
    sparse product of the distinct (story, unit, context) sentences by their (story, unit, word)
    keys counts the shared words of every pair sharing one, for many stories at once, not pair by
    pair in Python (a big story has hundreds of figures). Figures are grouped by sentence first,
    and within it by (value, article): an article that repeats one sentence thousands of times
    adds one row, not a square of them.
    """
    vocab: dict[str, int] = {}
    codes = {c: np.array([vocab.setdefault(w, len(vocab)) for w in ws], np.int64) for c, ws in contexts.items()}
    if not vocab:
        return set()
    sentence = _codes([(sid, f["unit"] or "", f["context"]) for sid, f in figures])
    members: list[dict[tuple, list[str]]] = [{} for _ in range(int(sentence.max()) + 1)]
    first = np.full(len(members), -1, np.int64)
    for k, (code, (_, f)) in enumerate(zip(sentence.tolist(), figures)):
        members[code].setdefault((f["value"], f["article_id"]), []).append(f["figure_id"])
        if first[code] < 0:
            first[code] = k
    heads = [figures[k] for k in first.tolist()]
    word = np.concatenate([codes[f["context"]] for _, f in heads])
    sizes = np.array([len(contexts[f["context"]]) for _, f in heads], np.int64)
    group = _codes([(sid, f["unit"] or "") for sid, f in heads])
    _, key = np.unique(np.repeat(group, sizes) * len(vocab) + word, return_inverse=True)
    m = sparse.csr_matrix((np.ones(word.size, np.int32), key.ravel(), np.concatenate(([0], np.cumsum(sizes)))),
                          shape=(len(heads), int(key.max()) + 1))
    shared = sparse.triu(m @ m.T, k=0).tocoo()  # the diagonal: figures of one sentence
    i, j, n = shared.row, shared.col, shared.data.astype(np.int64)
    like = 2 * n >= np.maximum(1, np.minimum(sizes[i], sizes[j]))  # n / max(1, min) >= 0.5
    out: set[str] = set()
    for a, b in zip(i[like].tolist(), j[like].tolist()):
        for (va, aa), ids_a in members[a].items():
            for (vb, ab), ids_b in members[b].items():
                if va != vb and aa != ab and outlet[aa] != outlet[ab]:
                    out.update(ids_a)
                    out.update(ids_b)
    return out


def _codes(values: list) -> np.ndarray:
    """Integer codes of ``values``, equal exactly where the values are equal (``==``)."""
    seen: dict = {}
    return np.array([seen.setdefault(v, len(seen)) for v in values], np.int64)


def _figure_facts(story_id: str, figures: list[dict], aligned: Aligned, outlet: dict[str, str],
                  found: _Found) -> list[Row]:
    """One fact per quantity of the story's figures."""
    # One fact per quantity: the same value with the same unit, or in sentences that say the same
    # thing ("40,000 foreigners joined" / "40,000 foreign fighters have joined").
    def words(i: int) -> set[str]:
        context = figures[i]["context"]
        if context not in found.contexts:
            found.contexts[context] = _content_words(context)
        return found.contexts[context]

    def overlap(i: int, j: int) -> float:
        a, b = words(i), words(j)
        return len(a & b) / max(1, min(len(a), len(b)))

    # Figures of one value and unit are always one quantity; two units of one value are one
    # where any sentence of the one overlaps one of the other. A quantity is named by its first figure.
    by_value: dict[float, dict[str, list[int]]] = defaultdict(dict)
    for i, f in enumerate(figures):
        by_value[f["value"]].setdefault(f["unit"] or "", []).append(i)
    first = [0] * len(figures)
    for groups in by_value.values():
        units = list(groups.values())
        uf = _UnionFind()
        for a in range(len(units)):
            uf.find(a)
            for b in range(a):
                if uf.find(a) != uf.find(b) and any(overlap(i, j) >= 0.3 for i in units[a] for j in units[b]):
                    uf.union(a, b)
        joined: dict[int, list[int]] = defaultdict(list)
        for a, members in enumerate(units):
            joined[uf.find(a)].extend(members)
        for members in joined.values():
            least = min(members)
            for i in members:
                first[i] = least
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for i, f in enumerate(figures):
        root = figures[first[i]]
        by_key[(root["unit"] or "", root["value"])].append(f)
    rows = []
    for (unit, value), carriers in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        fact_id = model.stable_id(story_id, "figure", unit, value)
        n_out = len({outlet[c["article_id"]] for c in carriers})
        origins = figure_origins(carriers, aligned)
        label = f"{value:,.0f} {unit}".strip() if float(value).is_integer() else f"{value:,} {unit}".strip()
        for c in sorted(carriers, key=lambda c: (c["article_id"], c["start"])):
            status = "conflict" if c["figure_id"] in found.conflicts else ("shared" if n_out > 1 else "only_here")
            rows.append(_fact(story_id, fact_id, "figure", c["article_id"], c["start"], c["end"], label, status,
                              n_out, origins, c.get("surface")))
    return rows


@dataclass
class Compare:
    """Gather step: story members + articles + alignments + figures -> fact rows per story."""

    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("story_id", "article_id")
    output_schema: ClassVar[pa.Schema] = model.FACT

    def __call__(self, members: pa.Table, articles: pa.Table, alignments: pa.Table, figures: pa.Table,
                 quotes: pa.Table | None = None) -> pa.Table:
        story_of = dict(zip(members["article_id"].to_pylist(), members["story_id"].to_pylist()))
        stories: dict[str, tuple[list[dict], list[dict], list[dict], list[dict]]] = defaultdict(
            lambda: ([], [], [], []))
        for a in articles.select(["article_id", "outlet", "text"]).to_pylist():
            if a["article_id"] in story_of:
                stories[story_of[a["article_id"]]][0].append(a)
        for al in alignments.select(["a_id", "a_start", "a_end", "b_id", "b_start", "b_end"]).to_pylist():
            sa, sb = story_of.get(al["a_id"]), story_of.get(al["b_id"])
            if sa is not None and sa == sb:
                stories[sa][1].append(al)
        for f in figures.to_pylist():
            if f["article_id"] in story_of:
                stories[story_of[f["article_id"]]][2].append(f)
        for q in (quotes.select(["article_id", "start", "quote", "end", "speaker"]).to_pylist()
                  if quotes is not None else []):
            if q["article_id"] in story_of:
                stories[story_of[q["article_id"]]][3].append(q)
        # A story's rows need its articles; stray rows of a story without any are dropped.
        stories = {sid: (sorted(s[0], key=lambda a: a["article_id"]), *s[1:]) for sid, s in sorted(stories.items())
                   if s[0]}
        found = _find(stories)
        rows = [r for sid, s in stories.items() for r in _story_rows(sid, *s, found)]
        schema = self.output_schema  # column by column: zip(*rows) over many rows is slow
        return pa.Table.from_arrays([pa.array(list(map(itemgetter(k), rows)), f.type) for k, f in enumerate(schema)],
                                    schema=schema)

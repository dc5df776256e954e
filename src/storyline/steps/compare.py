"""Story analysis: shared passages, what each outlet adds, figures, conflicts and corroboration.

A *fact* is something a story's articles carry: a passage that reuse alignment found in several
articles, a passage only one article carries, a figure (value + unit), or a direct quote. Each
fact row points to one carrier's exact offsets. ``origins`` counts independent origin chains:
carriers connected by reuse (their spans are aligned) share one origin, so five reprints of one
wire story count once while an outlet's own reporting of the same figure counts separately.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from typing import ClassVar

import numpy as np
import pyarrow as pa
from scipy import sparse

from .. import model
from ..textutil import paragraphs, tokenize, tokenize_many

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
    """:func:`uncovered` of each text with its covered spans; the pieces' words are counted in one batch."""
    pieces = [_pieces(t, c) for t, c in zip(texts, covered)]
    enough = iter(_has_words([t[s:e] for t, ps in zip(texts, pieces) for s, e in ps], min_words).tolist())
    return [[p for p in ps if next(enough)] for ps in pieces]


HEAD = 48  # characters of a piece whose words are counted first: most reach the minimum in them


def _has_words(pieces: list[str], min_words: int) -> np.ndarray:
    """Whether each piece has ``min_words`` words or more (as :func:`tokenize` counts).

    A piece's first :data:`HEAD` characters hold no more words than the piece (each word there
    starts a word of the piece), so most pieces are decided by their head; only long ones short
    of words there are counted in full.
    """
    if not pieces:
        return np.zeros(0, bool)
    enough = np.diff(tokenize_many([p[:HEAD] for p in pieces])[1]) >= min_words
    rest = [k for k in np.flatnonzero(~enough).tolist() if len(pieces[k]) > HEAD]
    if rest:
        enough[rest] = np.diff(tokenize_many([pieces[k] for k in rest])[1]) >= min_words
    return enough


def _pieces(text: str, covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Paragraph pieces of ``text`` outside ``covered`` spans, trimmed, of any length."""
    out: list[tuple[int, int]] = []
    merged = merge_spans(covered)
    ends = [e for _, e in merged]
    for ps, pe in paragraphs(text):
        cur = ps
        # merged spans are sorted and apart: start at the first that ends inside the paragraph
        k = bisect_right(ends, cur)
        while k < len(merged) and merged[k][0] < pe:
            cs, ce = merged[k]
            _trim(text, cur, cs, out)
            cur = max(cur, ce)
            k += 1
        _trim(text, cur, pe, out)
    return out


def _trim(text: str, s: int, e: int, out: list[tuple[int, int]]) -> None:
    piece = text[s:e]
    lead = len(piece) - len(piece.lstrip(" ,.;:—–-\"'”’"))
    trail = len(piece) - len(piece.rstrip())
    s, e = s + lead, e - trail
    if e > s:
        out.append((s, e))


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


def _inside(span: tuple[int, int], spans: list[tuple[int, int]], cover: float = 0.9) -> bool:
    # Aligned passages stop at the last matching word, so a span ending in "." or "," sticks out
    # by a character or two: mostly covered counts as inside.
    size = max(1, span[1] - span[0])
    return any((min(e, span[1]) - max(s, span[0])) / size >= cover for s, e in spans)


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
        for y, pairs in aligned.get(x, {}).items():
            ys = spans.get(y)
            if ys is None or uf.find(x) == uf.find(y):
                continue
            if any(_inside(cx, [sx]) and _inside(cy, [sy]) for sx, sy in pairs for cx in xs for cy in ys):
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
    pieces, each figure context's content words, the conflicting figures, each quote's words."""

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
    figures = [(sid, f) for sid, s in stories.items() for f in s[2]]
    contexts = {c: set(_CONTENT.findall((c or "").lower())) for c in {f["context"] for _, f in figures}}
    outlet = {a["article_id"]: a["outlet"] for a in arts}
    return _Found(unique=dict(zip((a["article_id"] for a in arts), unique)), contexts=contexts,
                  conflicts=_conflicts(figures, contexts, outlet),
                  quote_words=_words_of({q["quote"] for s in stories.values() for q in s[3]}))


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
    for g in passage_groups(alignments):
        first = min(g)
        s, e = g[first]
        add("passage", (first, s, e), [(aid, *sp) for aid, sp in g.items()], text[first][s:e][:300],
            "shared" if len(g) > 1 else "only_here", 1)
    for a in articles:  # one carrier each: add's general path not needed
        aid, txt = a["article_id"], a["text"]
        for s, e in found.unique[aid]:
            rows.append(_fact(story_id, model.stable_id(story_id, "unique", (aid, s, e)), "unique", aid, s, e,
                              txt[s:min(e, s + 300)], "only_here", 1, 1, None))
    aligned = _aligned(alignments)
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
    uf = _UnionFind()
    qs = sorted(quotes, key=lambda q: (q["article_id"], q["start"]))
    keys = [_quote_key(found.quote_words[q["quote"]]) for q in qs]
    # Only quotes sharing a trigram (or, under three words, all their words) can be the same quote:
    # an index of earlier quotes keeps a big story from comparing every pair.
    seen: dict[object, list[int]] = defaultdict(list)
    for i, q in enumerate(qs):
        uf.find(i)
        words, grams = keys[i]
        handles = grams or ({tuple(words)} if words else set())
        for j in sorted({j for h in handles for j in seen[h]}):
            if qs[j]["article_id"] != q["article_id"] and _same_key(keys[j], keys[i]):
                uf.union(j, i)
        for h in handles:
            seen[h].append(i)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(qs)):
        groups[uf.find(i)].append(i)
    rows = []
    for members in groups.values():
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
                              n_out, origins, _lineage(keys[members[0]][0], keys[i][0])))
    return rows


def _conflicts(figures: list[tuple[str, dict]], contexts: dict[str | None, set[str]],
               outlet: dict[str, str]) -> set[str]:
    """``figure_id``s in conflict: another figure of the same story and unit, with another value,
    article and outlet, in a sentence that says the same thing (half the content words of the
    shorter shared, so at least one).

    ``figures`` are (story id, figure) pairs, ``contexts`` the content words of each context. A
    sparse product of figures by their (story, unit, word) keys counts the shared words of every
    pair sharing one, for many stories at once, not pair by pair in Python (a big story has
    hundreds of figures).
    """
    ctx = [contexts[f["context"]] for _, f in figures]
    words = [w for c in ctx for w in c]
    if not words:
        return set()
    sizes = np.array([len(c) for c in ctx], np.int64)
    fig = np.repeat(np.arange(len(figures)), sizes)
    group = _codes([(sid, f["unit"] or "") for sid, f in figures])[fig]
    word = pa.array(words, pa.string()).dictionary_encode().indices.to_numpy().astype(np.int64)
    _, key = np.unique(group * (int(word.max()) + 1) + word, return_inverse=True)
    m = sparse.csr_matrix((np.ones(fig.size, np.int32), key.ravel(), np.concatenate(([0], np.cumsum(sizes)))),
                          shape=(len(figures), int(key.max()) + 1))
    shared = sparse.triu(m @ m.T, k=1).tocoo()
    i, j, n = shared.row, shared.col, shared.data.astype(np.int64)
    value = _codes([f["value"] for _, f in figures])
    article = _codes([f["article_id"] for _, f in figures])
    source = _codes([outlet[f["article_id"]] for _, f in figures])
    hit = ((value[i] != value[j]) & (article[i] != article[j]) & (source[i] != source[j])
           & (2 * n >= np.maximum(1, np.minimum(sizes[i], sizes[j]))))  # n / max(1, min) >= 0.5
    ids = [f["figure_id"] for _, f in figures]
    return {ids[k] for k in np.concatenate((i[hit], j[hit])).tolist()}


def _codes(values: list) -> np.ndarray:
    """Integer codes of ``values``, equal exactly where the values are equal (``==``)."""
    seen: dict = {}
    return np.array([seen.setdefault(v, len(seen)) for v in values], np.int64)


def _figure_facts(story_id: str, figures: list[dict], aligned: Aligned, outlet: dict[str, str],
                  found: _Found) -> list[Row]:
    """One fact per quantity of the story's figures."""
    # One fact per quantity: the same value with the same unit, or in sentences that say the same
    # thing ("40,000 foreigners joined" / "40,000 foreign fighters have joined").
    uf = _UnionFind()
    ctx = [found.contexts[f["context"]] for f in figures]
    units = [f["unit"] or "" for f in figures]

    def overlap(i: int, j: int) -> float:
        return len(ctx[i] & ctx[j]) / max(1, min(len(ctx[i]), len(ctx[j])))

    # Figures of one value and unit are always one quantity, so each joins the first of its unit
    # and needs a sentence check only against the value's other units (until one joins).
    by_value: dict[float, dict[str, list[int]]] = defaultdict(dict)
    for i, f in enumerate(figures):
        uf.find(i)
        for unit, js in by_value[f["value"]].items():
            if unit == units[i]:
                uf.union(js[0], i)
            elif uf.find(js[0]) != uf.find(i) and any(overlap(i, j) >= 0.3 for j in js):
                uf.union(js[0], i)
        by_value[f["value"]].setdefault(units[i], []).append(i)
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for i, f in enumerate(figures):
        root = figures[uf.find(i)]
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

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
from typing import ClassVar

import pyarrow as pa

from .. import model
from ..textutil import paragraphs, tokenize

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
    out = []
    merged = merge_spans(covered)
    for ps, pe in paragraphs(text):
        cur = ps
        for cs, ce in merged + [(pe, pe)]:
            if ce <= cur or cs >= pe:
                if cs >= pe:
                    break
                continue
            _keep(text, cur, min(cs, pe), min_words, out)
            cur = max(cur, ce)
        _keep(text, cur, pe, min_words, out)
    return out


def _keep(text: str, s: int, e: int, min_words: int, out: list[tuple[int, int]]) -> None:
    piece = text[s:e]
    lead = len(piece) - len(piece.lstrip(" ,.;:—–-\"'”’"))
    trail = len(piece) - len(piece.rstrip())
    s, e = s + lead, e - trail
    if e > s and len(tokenize(text[s:e])) >= min_words:
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


def figure_origins(carriers: list[dict], aligned: dict[tuple[str, str], list[tuple[list, list]]]) -> int:
    """Independent chains among carriers of a figure or quote: two carriers share a chain when
    their spans sit inside a passage aligned between their articles."""
    uf = _UnionFind()
    for c in carriers:
        uf.find(c["article_id"])
    for x in carriers:
        for y in carriers:
            key = (x["article_id"], y["article_id"])
            for spans_x, spans_y in aligned.get(key, []):
                if _inside((x["start"], x["end"]), spans_x) and _inside((y["start"], y["end"]), spans_y):
                    uf.union(x["article_id"], y["article_id"])
    return len({uf.find(c["article_id"]) for c in carriers})


_CONTENT = re.compile(r"[A-Za-z]{4,}")


def _fact(story_id: str, fact_id: str, kind: str, article_id: str, start: int, end: int, label: str, status: str,
          outlets: int, origins: int, detail: str | None) -> dict:
    """One FACT row (one carrier of one fact)."""
    return {"story_id": story_id, "fact_id": fact_id, "kind": kind, "article_id": article_id, "start": start,
            "end": end, "label": label, "status": status, "outlets": outlets, "origins": origins, "detail": detail}


def analyze_story(story_id: str, articles: list[dict], alignments: list[dict], figures: list[dict],
                  quotes: list[dict] | None = None) -> list[dict]:
    """All fact rows of one story."""
    outlet = {a["article_id"]: a["outlet"] for a in articles}
    rows: list[dict] = []

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
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    aligned: dict[tuple[str, str], list[tuple[list, list]]] = defaultdict(list)
    for al in alignments:
        covered[al["a_id"]].append((al["a_start"], al["a_end"]))
        covered[al["b_id"]].append((al["b_start"], al["b_end"]))
        aligned[(al["a_id"], al["b_id"])].append(([(al["a_start"], al["a_end"])], [(al["b_start"], al["b_end"])]))
        aligned[(al["b_id"], al["a_id"])].append(([(al["b_start"], al["b_end"])], [(al["a_start"], al["a_end"])]))
    for a in articles:
        for s, e in uncovered(a["text"], covered[a["article_id"]]):
            add("unique", (a["article_id"], s, e), [(a["article_id"], s, e)], a["text"][s:e][:300], "only_here", 1)
    rows.extend(_figure_facts(story_id, figures, aligned, outlet))
    rows.extend(_quote_facts(story_id, quotes or [], aligned, outlet))
    return rows


def lineage(a: str, b: str) -> str:
    """How quote ``b`` relates to quote ``a``: verbatim, trimmed (one inside the other) or altered."""
    wa, wb = tokenize(a).words, tokenize(b).words
    if wa == wb:
        return "verbatim"
    sa, sb = " ".join(wa), " ".join(wb)
    return "trimmed" if sa in sb or sb in sa else "altered"


def _quote_key(quote: str) -> tuple[list[str], set[tuple[str, ...]]]:
    words = tokenize(quote).words
    return words, {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def _same_key(ka: tuple[list[str], set], kb: tuple[list[str], set], min_overlap: float = 0.6) -> bool:
    (ta, ga), (tb, gb) = ka, kb
    if not ga or not gb:
        return ta == tb and bool(ta)
    return len(ga & gb) / min(len(ga), len(gb)) >= min_overlap


def _quote_facts(story_id: str, quotes: list[dict], aligned: dict, outlet: dict[str, str]) -> list[dict]:
    """One fact per distinct quote across the story, with each carrier's lineage to the first."""
    uf = _UnionFind()
    qs = sorted(quotes, key=lambda q: (q["article_id"], q["start"]))
    keys = [_quote_key(q["quote"]) for q in qs]
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
        for c in carriers:
            rows.append(_fact(story_id, fact_id, "quote", c["article_id"], c["start"], c["end"],
                              f"{speaker or '?'}: {first['quote'][:200]}", "shared" if n_out > 1 else "only_here",
                              n_out, origins, lineage(first["quote"], c["quote"])))
    return rows


def _figure_facts(story_id: str, figures: list[dict], aligned: dict, outlet: dict[str, str]) -> list[dict]:
    # One fact per quantity: the same value with the same unit, or in sentences that say the same
    # thing ("40,000 foreigners joined" / "40,000 foreign fighters have joined").
    uf = _UnionFind()
    ctx = [set(_CONTENT.findall((f["context"] or "").lower())) for f in figures]

    def overlap(i: int, j: int) -> float:
        return len(ctx[i] & ctx[j]) / max(1, min(len(ctx[i]), len(ctx[j])))

    by_value: dict[float, list[int]] = defaultdict(list)
    for i, f in enumerate(figures):
        uf.find(i)
        for j in by_value[f["value"]]:
            if (f["unit"] or "") == (figures[j]["unit"] or "") or overlap(i, j) >= 0.3:
                uf.union(j, i)
        by_value[f["value"]].append(i)
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for i, f in enumerate(figures):
        root = figures[uf.find(i)]
        by_key[(root["unit"] or "", root["value"])].append(f)
    # Conflicts: the same unit, another value, another outlet, in a sentence saying the same thing
    # (half its content words shared, so at least one: an index of words finds the candidates).
    conflicts = set()
    words: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, f in enumerate(figures):
        unit = f["unit"] or ""
        for j in sorted({j for w in ctx[i] for j in words[(unit, w)]}):
            g = figures[j]
            if (f["article_id"] != g["article_id"] and outlet[f["article_id"]] != outlet[g["article_id"]]
                    and f["value"] != g["value"] and overlap(i, j) >= 0.5):
                conflicts.update((f["figure_id"], g["figure_id"]))
        for w in ctx[i]:
            words[(unit, w)].append(i)
    rows = []
    for (unit, value), carriers in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        fact_id = model.stable_id(story_id, "figure", unit, value)
        n_out = len({outlet[c["article_id"]] for c in carriers})
        origins = figure_origins(carriers, aligned)
        label = f"{value:,.0f} {unit}".strip() if float(value).is_integer() else f"{value:,} {unit}".strip()
        for c in sorted(carriers, key=lambda c: (c["article_id"], c["start"])):
            status = "conflict" if c["figure_id"] in conflicts else ("shared" if n_out > 1 else "only_here")
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
        arts: dict[str, list[dict]] = defaultdict(list)
        for a in articles.select(["article_id", "outlet", "text"]).to_pylist():
            if a["article_id"] in story_of:
                arts[story_of[a["article_id"]]].append(a)
        als: dict[str, list[dict]] = defaultdict(list)
        for al in alignments.to_pylist():
            sa, sb = story_of.get(al["a_id"]), story_of.get(al["b_id"])
            if sa is not None and sa == sb:
                als[sa].append(al)
        figs: dict[str, list[dict]] = defaultdict(list)
        for f in figures.to_pylist():
            if f["article_id"] in story_of:
                figs[story_of[f["article_id"]]].append(f)
        quotes_by: dict[str, list[dict]] = defaultdict(list)
        for q in (quotes.to_pylist() if quotes is not None else []):
            if q["article_id"] in story_of:
                quotes_by[story_of[q["article_id"]]].append(q)
        rows = []
        for sid in sorted(arts):
            rows.extend(analyze_story(sid, sorted(arts[sid], key=lambda a: a["article_id"]), als[sid], figs[sid],
                                      quotes_by[sid]))
        return pa.Table.from_pylist(rows, schema=self.output_schema)

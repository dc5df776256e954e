"""Story documents: one JSON document per story, what export, the Python API and the web UI show.

A stored document leaves out what its reader can put back: its articles' ``text`` (the articles
table holds each text once), every value that is a span of those texts (facts' labels, quotes'
words, figures' surface; a figure's context sentence is stored as its place in the text), facts'
``cells``, outlet counts and the ``unique`` list (they follow from the facts' carriers), reuse
edges' edits (they follow from the story's alignments), facts' origins and status where they are
the usual (:data:`FACT_DEFAULTS`), carriers' status where it is their fact's and their detail
where it is null. :func:`restore` puts them back when a document is read
(:func:`storyline.export.stories`), so readers get the very document built here.
A value is left out only where putting it back gives it exactly; a stored value always wins, so
documents stored whole (by earlier versions) read the same.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, ClassVar

import orjson
import pyarrow as pa

from .. import model
from .edits import edge_edits
from .quotes import _clean_name_cached as clean_name
from .quotes import full_name, person_names

# Columns of the articles table a document shows (``text`` only once read: see restore).
ARTICLE_COLUMNS = ["article_id", "path", "record", "url", "outlet", "published", "title", "byline", "text"]
# The tables a document draws on, each by the article that owns its rows.
OWNER = {"articles": "article_id", "alignments": "a_id", "edges": "source_id", "figures": "article_id",
         "quotes": "article_id", "facts": "article_id"}


def _by(rows: list[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def resolve_story_speakers(quotes: list[dict], texts: list[str]) -> None:
    """Give bare-surname speakers the full name used elsewhere in the story (quotes or text)."""
    bare = {q["speaker"] for q in quotes if q.get("speaker") and len(q["speaker"].split()) == 1}
    if not bare:
        return  # nothing to resolve: skip reading every text for names
    # A name only resolves a surname it contains, and the names of a text are pieces of it: texts
    # without any of the surnames (most of a big story) hold no name that matters.
    surnames = {toks[-1] for toks in (clean_name(tuple(sp.split())) for sp in bare) if toks}
    known = sorted({q["speaker"] for q in quotes if q.get("speaker") and len(q["speaker"].split()) > 1}
                   | {name for t in texts if t and any(s in t for s in surnames) for _, _, name in person_names(t)})
    for q in quotes:
        sp = q.get("speaker")
        if sp and len(sp.split()) == 1:
            q["speaker"] = full_name(sp, known) or sp


def independent_sources(member_ids: list[str], edges: list[dict]) -> int:
    """Origin chains among a story's articles: articles linked by reuse count once."""
    parent = {a: a for a in member_ids}

    def find(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for e in edges:
        if e["source_id"] in parent and e["copy_id"] in parent:
            ra, rb = find(e["source_id"]), find(e["copy_id"])
            parent[max(ra, rb)] = min(ra, rb)
    return len({find(a) for a in member_ids})


LABEL_CHARS = 300  # a text span's label: its first characters (steps.compare)
CELL = {"conflict": "conflict", "only_here": "only_here"}  # a carrier's fact-by-outlet cell; other: reported
_SPAN = itemgetter("article_id", "start", "end")


def _span_label(carriers: list[dict], texts: dict[str, str | None]) -> str:
    """A fact's label as a span of text: its first carrier's, by article and place (what
    :mod:`~storyline.steps.compare` gives passages and unique pieces). ``""`` without the text."""
    aid, start, end = _SPAN(carriers[0] if len(carriers) == 1 else min(carriers, key=_SPAN))
    return (texts.get(aid) or "")[start:end][:LABEL_CHARS]


def _cells(carriers: list[dict], omitted: dict[str, str], outlet_of: dict[str, str]) -> dict[str, str]:
    """A fact's row of the fact-by-outlet matrix: each outlet's last carrier's cell, ``omitted``
    (every outlet of the story, in sorted order) where none carries it."""
    cells = omitted.copy()
    for c in carriers:
        cells[outlet_of[c["article_id"]]] = CELL.get(c["status"], "reported")
    return cells


# The columns of a fact row as _facts reads it (a tuple: a big story has tens of thousands of rows).
FACT_FIELDS = ("fact_id", "kind", "article_id", "start", "end", "label", "status", "outlets", "origins", "detail")
# A fact's values where most facts have them (a unique piece has them all), left out when stored.
FACT_DEFAULTS = {"origins": 1, "status": "only_here"}


def _outlets(carriers: list[dict], outlet_of: dict[str, str]) -> int:
    """How many outlets carry a fact."""
    return len({outlet_of[c["article_id"]] for c in carriers})


def _facts(rows: list[tuple], texts: dict[str, str | None], outlet_of: dict[str, str]) -> list[dict]:
    """Fact rows (:data:`FACT_FIELDS`) folded into one entry per fact, as stored: without ``cells``,
    without a label :func:`_span_label` gives, an outlet count :func:`_outlets` gives or values of
    :data:`FACT_DEFAULTS`; carriers without their fact's status and without a null detail."""
    facts: dict[str, dict] = {}
    for fid, kind, aid, start, end, label, status, outlets, origins, detail in rows:
        f = facts.get(fid)
        if f is None:  # not setdefault: that would build this dict for every row of the fact
            f = facts[fid] = {"fact_id": fid, "kind": kind, "label": label, "outlets": outlets, "origins": origins,
                              "status": status, "carriers": []}
        elif status == "conflict":
            f["status"] = "conflict"
        c = {"article_id": aid, "start": start, "end": end, "status": status}
        if detail is not None:
            c["detail"] = detail
        f["carriers"].append(c)
    kinds = {"passage": 0, "quote": 1, "figure": 2, "unique": 3}
    out = sorted(facts.values(), key=lambda f: (kinds.get(f["kind"], 9), -f["outlets"], f["fact_id"]))
    for f in out:
        carriers, status = f["carriers"], f["status"]
        if f["label"] == _span_label(carriers, texts):
            del f["label"]
        if f["outlets"] == _outlets(carriers, outlet_of):
            del f["outlets"]
        for c in carriers:
            if c["status"] == status:
                del c["status"]
        for k, v in FACT_DEFAULTS.items():
            if f[k] == v:
                del f[k]
    return out


def _unique_spans(facts: list[dict]) -> list[tuple[str, int, int]]:
    """The unique pieces of a document's facts, by article and place: its ``unique`` list."""
    return sorted(_SPAN(c) for f in facts if f["kind"] == "unique" for c in f["carriers"])


def story_document(sid: str, ms: list[dict], articles: dict, tables: dict[str, dict[str, list[dict]]],
                   fact_rows: list[tuple]) -> dict[str, Any]:
    """The document of story ``sid`` as stored: members ``ms``, ``articles`` by id, stage rows by
    owning article, its fact rows (:data:`FACT_FIELDS` tuples)."""
    mine = {m["article_id"] for m in ms}
    role = {m["article_id"]: m["role"] for m in ms}
    arts = sorted((articles[a] for a in mine), key=lambda a: (a["published"] or "", a["article_id"]))
    own = {name: [r for a in sorted(mine) for r in rows.get(a, [])] for name, rows in tables.items()}
    quotes = [dict(q) for q in own["quotes"]]
    resolve_story_speakers(quotes, [a["text"] for a in arts])
    edges = [e for e in own["edges"] if e["copy_id"] in mine]
    shared = [{k: al[k] for k in ("a_id", "a_start", "a_end", "b_id", "b_start", "b_end", "score", "words")}
              | {"edits": orjson.loads(al["edits"] or "[]")} for al in own["alignments"] if al["b_id"] in mine]
    pairs = _pairs(shared)
    dates = sorted(a["published"] for a in arts if a["published"])
    texts = {a["article_id"]: a["text"] for a in arts}
    facts = _facts(fact_rows, texts, {a["article_id"]: a["outlet"] for a in arts})
    unique = [(aid, start, end) for _, kind, aid, start, end, *_ in fact_rows if kind == "unique"]
    doc = {
        "story_id": sid,
        "title": next((a["title"] for a in arts if a["title"]), ""),
        "size": len(arts),
        "outlets": sorted({a["outlet"] for a in arts}),
        "first_seen": dates[0] if dates else None,
        "last_seen": dates[-1] if dates else None,
        "independent_sources": independent_sources(sorted(mine), edges),
        "review": any(m.get("review") for m in ms),
        "articles": [{"article_id": a["article_id"], "path": a["path"], "url": a["url"], "outlet": a["outlet"],
                      "title": a["title"], "published": a["published"], "byline": a["byline"],
                      "role": role[a["article_id"]]} for a in arts],
        "shared": shared,
        "quotes": [_stored_quote(q, texts) for q in sorted(quotes, key=lambda q: (q["article_id"], q["start"]))],
        "figures": [_stored_figure(f, texts)
                    for f in sorted(own["figures"], key=lambda f: (f["article_id"], f["start"]))],
        "edges": [_stored_edge(e, pairs) for e in edges],
        "facts": facts,
    }
    if unique != _unique_spans(facts):  # not the order restore gives: keep it
        doc["unique"] = [{"article_id": aid, "end": end, "start": start} for aid, start, end in unique]
    return doc


def _stored_quote(q: dict, texts: dict[str, str | None]) -> dict:
    """A quote of a document, less its words where they are the span of its article's text it stands at."""
    out = {k: q[k] for k in ("article_id", "start", "end", "speaker", "speaker_mention", "cue")}
    if q["quote"] != (texts.get(q["article_id"]) or "")[q["start"]:q["end"]]:
        out["quote"] = q["quote"]
    return out


def _stored_figure(f: dict, texts: dict[str, str | None]) -> dict:
    """A figure of a document, less its surface where it is its span of its article's text, and
    its context sentence as its place there (``context_span``) where the text holds it."""
    text = texts.get(f["article_id"]) or ""
    out = {k: f[k] for k in ("article_id", "start", "end", "value", "unit")}
    if f["surface"] != text[f["start"]:f["end"]]:
        out["surface"] = f["surface"]
    context = f["context"]
    at = -1 if context is None else text.find(context, max(0, f["start"] - len(context)))
    if at < 0 and context:
        at = text.find(context)  # not around the figure: anywhere gives the same words
    if at < 0:
        out["context"] = context
    else:
        out["context_span"] = [at, at + len(context)]
    return out


def _pairs(shared: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """A story's alignments by their pair of articles."""
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for al in shared:
        out[al["a_id"], al["b_id"]].append(al)
    return out


def _edits(e: dict, pairs: dict[tuple[str, str], list[dict]]) -> list[dict]:
    """A reuse edge's edits as its pair's alignments give them (:func:`~storyline.steps.edits.edge_edits`),
    keys in sorted order."""
    source, copy = e["source_id"], e["copy_id"]
    als = pairs.get((source, copy)) or pairs.get((copy, source))
    return [{"copy_words": d["copy_words"], "source_words": d["source_words"]}
            for d in edge_edits(als, als[0]["a_id"], source)] if als else []


def _stored_edge(e: dict, pairs: dict[tuple[str, str], list[dict]]) -> dict:
    """A reuse edge of a document, less its edits where its alignments give them."""
    out = {k: e[k] for k in ("source_id", "copy_id", "shared_words", "containment", "reason")}
    edits = e["edits"] or []
    if edits != _edits(e, pairs):
        out["edits"] = edits
    return out


def restore(doc: dict[str, Any], texts: dict[str, str | None]) -> dict[str, Any]:
    """``doc`` as read from the ``docs`` table (parsed) made whole again with its articles' ``texts``
    (by article id): texts, and every value the stored document leaves out (module doc) put back.
    Keys come in the sorted order of the stored JSON, as the whole document had them, so the
    document is the one :func:`story_document` built; values a document holds stay as they are."""
    outlet_of = {a["article_id"]: a["outlet"] for a in doc["articles"]}
    doc["articles"] = [dict(sorted((a | {"text": texts.get(a["article_id"])}).items())) for a in doc["articles"]]
    omitted = dict.fromkeys(doc["outlets"], "omitted")
    facts = []
    for f in doc["facts"]:
        status = f.get("status", FACT_DEFAULTS["status"])
        carriers = [c if len(c) == 5 else  # whole: as stored by earlier versions
                    {"article_id": c["article_id"], "detail": c.get("detail"), "end": c["end"], "start": c["start"],
                     "status": c.get("status", status)} for c in f["carriers"]]
        facts.append({"carriers": carriers,
                      "cells": f["cells"] if "cells" in f else _cells(carriers, omitted, outlet_of),
                      "fact_id": f["fact_id"], "kind": f["kind"],
                      "label": f["label"] if "label" in f else _span_label(carriers, texts),
                      "origins": f.get("origins", FACT_DEFAULTS["origins"]),
                      "outlets": f["outlets"] if "outlets" in f else _outlets(carriers, outlet_of), "status": status})
    doc["facts"] = facts
    doc["quotes"] = [q if "quote" in q else dict(sorted((q | {"quote": (texts.get(q["article_id"]) or "")[
        q["start"]:q["end"]]}).items())) for q in doc["quotes"]]
    doc["figures"] = [f if "surface" in f and "context" in f else _figure(f, texts) for f in doc["figures"]]
    pairs = _pairs(doc["shared"])
    doc["edges"] = [e if "edits" in e else dict(sorted((e | {"edits": _edits(e, pairs)}).items()))
                    for e in doc["edges"]]
    if "unique" not in doc:  # the last key in sorted order
        doc["unique"] = [{"article_id": aid, "end": end, "start": start} for aid, start, end in _unique_spans(facts)]
    return doc


def _figure(f: dict, texts: dict[str, str | None]) -> dict:
    """A stored figure (:func:`_stored_figure`) whole again, keys in sorted order."""
    text = texts.get(f["article_id"]) or ""
    start, end = f["start"], f["end"]
    return {"article_id": f["article_id"],
            "context": f["context"] if "context" in f else text[slice(*f["context_span"])],
            "end": end, "start": start, "surface": f["surface"] if "surface" in f else text[start:end],
            "unit": f["unit"], "value": f["value"]}


def docs_table(docs: list[dict[str, Any]]) -> pa.Table:
    """The ``docs`` table: one row per story with summary columns and the JSON document."""
    rows = [{"story_id": d["story_id"], "title": d["title"], "size": d["size"], "outlets": d["outlets"],
             "first_seen": d["first_seen"], "last_seen": d["last_seen"],
             "independent_sources": d["independent_sources"],
             "doc": orjson.dumps(d, option=orjson.OPT_SORT_KEYS).decode()} for d in docs]
    return pa.Table.from_pylist(rows, schema=model.STORY_DOC)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while documents are built or read: they are millions of
    small dicts and lists, none in a cycle, and each thousand of them would start a pass over every
    object alive (two thirds of the time of :func:`_facts` at 100k articles, two thirds of parsing
    stored documents). Reference counting still frees them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class StoryDocs:
    """Gather step: story members + their articles and stage rows -> one document row per story.

    After the members come the tables of :data:`OWNER`, in that order, holding (at least) the rows
    the members' articles own; rows of other articles are ignored. Rows come out largest
    story first, then by id. Articles' texts are read (speaker names, spans) but not stored: see
    :func:`restore`.
    """

    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("story_id", "article_id", "role", "review")
    output_schema: ClassVar[pa.Schema] = model.STORY_DOC

    def __call__(self, members: pa.Table, articles: pa.Table, alignments: pa.Table, edges: pa.Table,
                 figures: pa.Table, quotes: pa.Table, facts: pa.Table) -> pa.Table:
        with no_cycle_collection():
            return self._docs(members, articles, alignments, edges, figures, quotes, facts)

    @staticmethod
    def _docs(members: pa.Table, articles: pa.Table, alignments: pa.Table, edges: pa.Table,
              figures: pa.Table, quotes: pa.Table, facts: pa.Table) -> pa.Table:
        by_id = {a["article_id"]: a for a in articles.select(ARTICLE_COLUMNS).to_pylist()}
        tables = {name: _by(t.to_pylist(), OWNER[name])
                  for name, t in zip(("quotes", "figures", "alignments", "edges"), (quotes, figures, alignments, edges))}
        fact_rows: dict[str, list[tuple]] = defaultdict(list)
        for sid, row in zip(facts["story_id"].to_pylist(), zip(*(facts[c].to_pylist() for c in FACT_FIELDS))):
            fact_rows[sid].append(row)
        docs = [story_document(sid, ms, by_id, tables, fact_rows.get(sid, []))
                for sid, ms in _by(members.to_pylist(), "story_id").items()]
        return docs_table(sorted(docs, key=lambda d: (-len(d["articles"]), d["story_id"])))

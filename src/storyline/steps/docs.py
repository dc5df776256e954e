"""Story documents: one JSON document per story, what export, the Python API and the web UI show.

A stored document leaves out its articles' ``text``: the articles table holds each text once, and
:func:`with_texts` puts them back when a document is read (:func:`storyline.export.stories`).
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import pyarrow as pa

from .. import model
from .quotes import _clean_name_cached as clean_name
from .quotes import full_name, person_names

# Columns of the articles table a document shows (``text`` only once read: see with_texts).
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


def _facts(rows: list[dict], outlet_of: dict[str, str]) -> list[dict]:
    """Fact rows folded into one entry per fact, with its row of the fact-by-outlet matrix."""
    facts: dict[str, dict] = {}
    cell_of = {"conflict": "conflict", "only_here": "only_here"}  # any other status: reported
    for r in rows:  # a big story has tens of thousands of rows: one lookup of each field
        fid, status, aid = r["fact_id"], r["status"], r["article_id"]
        f = facts.get(fid)
        if f is None:  # not setdefault: that would build this dict for every row of the fact
            f = facts[fid] = {"fact_id": fid, "kind": r["kind"], "label": r["label"], "outlets": r["outlets"],
                              "origins": r["origins"], "status": status, "carriers": [], "cells": {}}
        elif status == "conflict":
            f["status"] = "conflict"
        f["carriers"].append({"article_id": aid, "start": r["start"], "end": r["end"], "status": status,
                              "detail": r.get("detail")})
        f["cells"][outlet_of[aid]] = cell_of.get(status, "reported")
    # An outlet of the story that does not carry the fact omits it; one dict merge per fact (a big
    # story has thousands of facts and dozens of outlets). Key order is the JSON's sorted one anyway.
    omitted = dict.fromkeys(sorted(set(outlet_of.values())), "omitted")
    for f in facts.values():
        f["cells"] = omitted | f["cells"]
    kinds = {"passage": 0, "quote": 1, "figure": 2, "unique": 3}
    return sorted(facts.values(), key=lambda f: (kinds.get(f["kind"], 9), -f["outlets"], f["fact_id"]))


def story_document(sid: str, ms: list[dict], articles: dict, tables: dict[str, dict[str, list[dict]]],
                   fact_rows: list[dict]) -> dict[str, Any]:
    """The document of story ``sid``: members ``ms``, ``articles`` by id, stage rows by owning article."""
    mine = {m["article_id"] for m in ms}
    role = {m["article_id"]: m["role"] for m in ms}
    arts = sorted((articles[a] for a in mine), key=lambda a: (a["published"] or "", a["article_id"]))
    own = {name: [r for a in sorted(mine) for r in rows.get(a, [])] for name, rows in tables.items()}
    quotes = [dict(q) for q in own["quotes"]]
    resolve_story_speakers(quotes, [a["text"] for a in arts])
    edges = [e for e in own["edges"] if e["copy_id"] in mine]
    dates = sorted(a["published"] for a in arts if a["published"])
    return {
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
        "shared": [{k: al[k] for k in ("a_id", "a_start", "a_end", "b_id", "b_start", "b_end", "score", "words")}
                   | {"edits": orjson.loads(al["edits"] or "[]")}
                   for al in own["alignments"] if al["b_id"] in mine],
        "unique": [{"article_id": f["article_id"], "start": f["start"], "end": f["end"]}
                   for f in fact_rows if f["kind"] == "unique"],
        "quotes": [{k: q[k] for k in ("article_id", "start", "end", "quote", "speaker", "speaker_mention", "cue")}
                   for q in sorted(quotes, key=lambda q: (q["article_id"], q["start"]))],
        "figures": [{k: f[k] for k in ("article_id", "start", "end", "value", "unit", "surface", "context")}
                    for f in sorted(own["figures"], key=lambda f: (f["article_id"], f["start"]))],
        "edges": [{k: e[k] for k in ("source_id", "copy_id", "shared_words", "containment", "reason")}
                  | {"edits": e["edits"] or []} for e in edges],
        "facts": _facts(fact_rows, {a["article_id"]: a["outlet"] for a in arts}),
    }


def with_texts(doc: dict[str, Any], texts: dict[str, str | None]) -> dict[str, Any]:
    """``doc`` as read from the ``docs`` table with each article's ``text`` (``texts`` by article id)
    put back, keys in the sorted order of the stored JSON, as they were when documents held texts."""
    doc["articles"] = [dict(sorted((a | {"text": texts.get(a["article_id"])}).items())) for a in doc["articles"]]
    return doc


def docs_table(docs: list[dict[str, Any]]) -> pa.Table:
    """The ``docs`` table: one row per story with summary columns and the JSON document."""
    rows = [{"story_id": d["story_id"], "title": d["title"], "size": d["size"], "outlets": d["outlets"],
             "first_seen": d["first_seen"], "last_seen": d["last_seen"],
             "independent_sources": d["independent_sources"],
             "doc": orjson.dumps(d, option=orjson.OPT_SORT_KEYS).decode()} for d in docs]
    return pa.Table.from_pylist(rows, schema=model.STORY_DOC)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector: documents are millions of small dicts and lists, none in
    a cycle, and each thousand of them would start a pass over every object alive (two thirds of
    the time of :func:`_facts` at 100k articles). Reference counting still frees them."""
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
    story first, then by id. Articles' texts are read (speaker names) but not stored: see :func:`with_texts`.
    """

    kind: ClassVar[str] = "gather"
    reads: ClassVar[tuple[str, ...]] = ("story_id", "article_id", "role", "review")
    output_schema: ClassVar[pa.Schema] = model.STORY_DOC

    def __call__(self, members: pa.Table, articles: pa.Table, alignments: pa.Table, edges: pa.Table,
                 figures: pa.Table, quotes: pa.Table, facts: pa.Table) -> pa.Table:
        with _no_cycle_collection():
            return self._docs(members, articles, alignments, edges, figures, quotes, facts)

    @staticmethod
    def _docs(members: pa.Table, articles: pa.Table, alignments: pa.Table, edges: pa.Table,
              figures: pa.Table, quotes: pa.Table, facts: pa.Table) -> pa.Table:
        by_id = {a["article_id"]: a for a in articles.select(ARTICLE_COLUMNS).to_pylist()}
        tables = {name: _by(t.to_pylist(), OWNER[name])
                  for name, t in zip(("quotes", "figures", "alignments", "edges"), (quotes, figures, alignments, edges))}
        fact_rows = _by(facts.to_pylist(), "story_id")
        docs = [story_document(sid, ms, by_id, tables, fact_rows.get(sid, []))
                for sid, ms in _by(members.to_pylist(), "story_id").items()]
        return docs_table(sorted(docs, key=lambda d: (-len(d["articles"]), d["story_id"])))

"""Stories and tables out of the store, as JSONL, CSV or Parquet.

:func:`stories` builds the per-story documents that ``export --table stories``, the Python API and
the web UI all show, so what a user sees is exactly what export writes.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import model
from .errors import ConfigError
from .steps.quotes import full_name, person_names
from .store import Store

FORMATS = ("jsonl", "csv", "parquet")
TABLES = {
    "stories": None,
    "articles": model.ARTICLE,
    "alignments": model.ALIGNMENT,
    "edges": model.REUSE_EDGE,
    "reuse_clusters": model.REUSE_CLUSTER,
    "quotes": model.QUOTE,
    "figures": model.FIGURE,
    "facts": model.FACT,
    "rejects": model.REJECT,
}


def _by(rows: list[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def resolve_story_speakers(quotes: list[dict], texts: list[str]) -> None:
    """Give bare-surname speakers the full name used elsewhere in the story (quotes or text)."""
    if not any(q.get("speaker") and len(q["speaker"].split()) == 1 for q in quotes):
        return  # nothing to resolve: skip reading every text for names
    known = sorted({q["speaker"] for q in quotes if q.get("speaker") and len(q["speaker"].split()) > 1}
                   | {name for t in texts for _, _, name in person_names(t)})
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
    for r in rows:
        f = facts.setdefault(r["fact_id"], {k: r[k] for k in ("fact_id", "kind", "label", "outlets", "origins")}
                             | {"status": r["status"], "carriers": [], "cells": {}})
        if r["status"] == "conflict":
            f["status"] = "conflict"
        f["carriers"].append({"article_id": r["article_id"], "start": r["start"], "end": r["end"],
                              "status": r["status"], "detail": r.get("detail")})
        cell = "conflict" if r["status"] == "conflict" else "only_here" if r["status"] == "only_here" else "reported"
        f["cells"][outlet_of[r["article_id"]]] = cell
    for f in facts.values():  # an outlet of the story that does not carry the fact omits it
        for o in sorted(set(outlet_of.values())):
            f["cells"].setdefault(o, "omitted")
    kinds = {"passage": 0, "quote": 1, "figure": 2, "unique": 3}
    return sorted(facts.values(), key=lambda f: (kinds.get(f["kind"], 9), -f["outlets"], f["fact_id"]))


def build_stories(store: Store, members: pa.Table | None = None) -> list[dict[str, Any]]:
    """Build the story documents of ``members`` (rows of the stories table; default: every story)
    from the stage tables, reading only their articles' rows; sorted by size then id."""
    members = store.read("stories", schema=model.STORY_MEMBER) if members is None else members
    ids = members["article_id"]
    cols = ["article_id", "path", "record", "url", "outlet", "published", "title", "byline", "text"]
    articles = {a["article_id"]: a for a in store.take("articles", ids, cols).to_pylist()}
    # Indexed by the article that owns each row so a story only touches its own rows.
    owner = {"quotes": "article_id", "figures": "article_id", "alignments": "a_id", "edges": "source_id"}
    tables = {name: _by(store.read(name, schema=TABLES[name], where=pc.field(key).isin(ids)).to_pylist(), key)
              for name, key in owner.items()}
    facts = _by(store.read("facts", schema=model.FACT, where=pc.field("article_id").isin(ids)).to_pylist(),
                "story_id")
    by_story = _by(members.to_pylist(), "story_id")
    docs = [_story(sid, ms, articles, tables, facts.get(sid, [])) for sid, ms in by_story.items()]
    return sorted(docs, key=lambda d: (-len(d["articles"]), d["story_id"]))


def _story(sid: str, ms: list[dict], articles: dict, tables: dict[str, list[dict]], fact_rows: list[dict]) -> dict:
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
                      "role": role[a["article_id"]], "text": a["text"]} for a in arts],
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


def docs_table(docs: list[dict[str, Any]]) -> pa.Table:
    """The ``docs`` table: one row per story with summary columns and the JSON document."""
    rows = [{"story_id": d["story_id"], "title": d["title"], "size": d["size"], "outlets": d["outlets"],
             "first_seen": d["first_seen"], "last_seen": d["last_seen"],
             "independent_sources": d["independent_sources"],
             "doc": orjson.dumps(d, option=orjson.OPT_SORT_KEYS).decode()} for d in docs]
    return pa.Table.from_pylist(rows, schema=model.STORY_DOC)


def stories(store: Store, story_id: str | None = None) -> list[dict[str, Any]]:
    """Every story document (or just ``story_id``'s) as written by the last run, largest first."""
    if story_id is None:
        table = store.read("docs", ["story_id", "size", "doc"], schema=model.STORY_DOC)
        order = pc.sort_indices(table, [("size", "descending"), ("story_id", "ascending")])
        rows = table["doc"].take(order).to_pylist()
    else:
        rows = [r["doc"] for r in store.query("select doc from docs where story_id = ?", [story_id])] \
            if "docs" in store.tables() else []
    return [orjson.loads(r) for r in rows]


def table(store: Store, name: str) -> pa.Table:
    """A store table by export name (``stories`` is one summary row per story)."""
    if name not in TABLES:
        raise ConfigError(f"unknown table {name!r}; allowed: {', '.join(TABLES)}")
    if name == "stories":
        docs = store.read("docs", schema=model.STORY_DOC).drop_columns(["doc"])
        docs = docs.take(pc.sort_indices(docs, [("size", "descending"), ("story_id", "ascending")]))
        return docs.set_column(docs.schema.get_field_index("outlets"), "outlets",
                               pa.array([";".join(o) for o in docs["outlets"].to_pylist()], pa.string()))
    return store.read(name, schema=TABLES[name])


def write(store: Store, name: str, fmt: str, dest: str | Path | None) -> None:
    """Write table ``name`` as ``fmt`` to ``dest`` (stdout when None or ``-``)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    to_stdout = dest in (None, "-")
    if fmt == "parquet":
        if to_stdout:
            raise ConfigError("parquet is binary: give -o FILE")
        pq.write_table(table(store, name), dest)
        return
    buf = io.StringIO()
    if fmt == "jsonl":
        rows = stories(store) if name == "stories" else table(store, name).to_pylist()
        for r in rows:
            buf.write(json.dumps(r, ensure_ascii=False, sort_keys=True, default=str) + "\n")
    else:
        t = table(store, name)
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(t.column_names)
        for r in t.to_pylist():
            w.writerow([json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v for v in r.values()])
    if to_stdout:
        sys.stdout.write(buf.getvalue())
    else:
        Path(dest).write_text(buf.getvalue(), encoding="utf-8")

"""Stories and tables out of the store, as JSONL, CSV or Parquet.

:func:`stories` reads the per-story documents (written by :class:`~storyline.steps.docs.StoryDocs`)
that ``export --table stories``, the Python API and the web UI all show, so what a user sees is
exactly what export writes. Documents are stored without their articles' texts, which it reads
from the articles table, and without what follows from them (:func:`~storyline.steps.docs.restore`).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import model
from .errors import ConfigError
from .steps.docs import no_cycle_collection, restore
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


def stories(store: Store, story_id: str | None = None) -> list[dict[str, Any]]:
    """Every story document (or just ``story_id``'s) as written by the last run, largest first."""
    if story_id is None:
        table = store.read("docs", ["story_id", "size", "doc"], schema=model.STORY_DOC)
        order = pc.sort_indices(table, [("size", "descending"), ("story_id", "ascending")])
        rows = table["doc"].take(order).to_pylist()
    else:
        rows = [r["doc"] for r in store.query("select doc from docs where story_id = ?", [story_id])] \
            if "docs" in store.tables() else []
    with no_cycle_collection():  # millions of small dicts, none in a cycle: a third of the time otherwise
        docs = [orjson.loads(r) for r in rows]
        texts = _texts(store, {a["article_id"] for d in docs for a in d["articles"]}, lookup=story_id is not None)
        return [restore(d, texts) for d in docs]


def _texts(store: Store, ids: set[str], lookup: bool) -> dict[str, str | None]:
    """The stored text of each article of ``ids``: by :meth:`Store.take` for one story's few
    (``lookup``), else in one pass over the articles table, a part in memory at a time."""
    if not ids:
        return {}
    if lookup:
        got = store.take("articles", sorted(ids), ["article_id", "text"])
        return dict(zip(got["article_id"].to_pylist(), got["text"].to_pylist()))
    out: dict[str, str | None] = {}
    wanted = pa.array(sorted(ids), pa.string())
    for part in store.parts("articles"):
        got = store.read_part("articles", part.name, ["article_id", "text"])
        got = got.filter(pc.is_in(got["article_id"], value_set=wanted))
        out.update(zip(got["article_id"].to_pylist(), got["text"].to_pylist()))
    return out


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

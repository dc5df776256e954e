"""What each page shows, as plain JSON-able dicts: the HTML templates render exactly these.

Everything here reshapes precomputed story documents (``export.stories``): filtering, sorting,
grouping and cutting text at stored offsets. Nothing re-runs the analysis.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import date
from typing import Any

from ..errors import ConfigError

SORTS = ("size", "date", "title")
PALETTE = 8  # passage groups cycle through this many colour classes (pg-0 … pg-7)
SUMMARY = ("story_id", "title", "size", "outlets", "first_seen", "last_seen", "independent_sources")
CELL = {"shared": "reported", "only_here": "only here", "conflict": "conflict"}


# ---------------------------------------------------------------- story list


def list_params(q: str | None, outlet: str | None, since: str | None, until: str | None,
                sort: str | None) -> dict[str, str]:
    """Validated list filters (every key present; an empty string means not set).

    Raises:
        ConfigError: ``sort`` is not one of SORTS, or a date is not YYYY-MM-DD.
    """
    params = {"q": (q or "").strip(), "outlet": (outlet or "").strip(), "since": (since or "").strip(),
              "until": (until or "").strip(), "sort": (sort or "size").strip() or "size"}
    if params["sort"] not in SORTS:
        raise ConfigError(f"unknown sort {params['sort']!r}; allowed: {', '.join(SORTS)}")
    for key in ("since", "until"):
        if params[key]:
            try:
                date.fromisoformat(params[key])
            except ValueError:
                raise ConfigError(f"{key} must be a date like 2025-03-04, got {params[key]!r}") from None
    return params


def _matches(doc: dict[str, Any], p: dict[str, str]) -> bool:
    if p.get("outlet") and p["outlet"] not in doc["outlets"]:
        return False
    if p.get("since") and (doc["last_seen"] or "")[:10] < p["since"]:
        return False  # also drops undated stories, which cannot be placed in a range
    if p.get("until") and not (doc["first_seen"] and doc["first_seen"][:10] <= p["until"]):
        return False
    if p.get("q"):
        needle = p["q"].casefold()
        hay = [doc["title"] or ""] + [f"{a['title'] or ''}\n{a['text'] or ''}" for a in doc["articles"]]
        return any(needle in h.casefold() for h in hay)
    return True


def story_list(docs: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
    """The list page: summary rows of the stories that match ``params``, in the chosen order."""
    rows = [{k: d[k] for k in SUMMARY} for d in docs if _matches(d, params)]
    sort = params.get("sort", "size")
    if sort == "title":
        rows.sort(key=lambda r: ((r["title"] or "").casefold(), r["story_id"]))
    elif sort == "date":
        rows.sort(key=lambda r: (r["first_seen"] or "", r["story_id"]), reverse=True)
    else:
        rows.sort(key=lambda r: (-r["size"], r["story_id"]))
    outlets = sorted({o for d in docs for o in d["outlets"]})
    return {"filters": params, "count": len(rows), "total": len(docs), "outlets": outlets, "stories": rows}


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        value = ";".join(value)
    # A scraped title that starts like a formula must not run in a spreadsheet (OWASP CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def list_csv(view: dict[str, Any]) -> str:
    """The list view's rows as CSV (outlets joined with ``;``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY)
    for r in view["stories"]:
        w.writerow([_csv_cell(r[k]) for k in SUMMARY])
    return buf.getvalue()


# ---------------------------------------------------------------- highlighted text


def segments(text: str, marks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cut ``text`` at every mark boundary; each piece lists the marks covering it.

    A mark is ``{"start", "end", "kind", ...}`` (kind: passage / unique / quote / figure). Each
    segment is ``{"text", "classes", "group", "quote", "figure", "anchors"}``; templates render it
    as one escaped ``<span>``, so no scraped string is ever treated as markup.
    """
    n = len(text)
    marks = [m | {"start": max(0, min(n, m["start"])), "end": max(0, min(n, m["end"]))} for m in marks]
    marks = [m for m in marks if m["start"] < m["end"]]
    cuts = sorted({0, n, *(m["start"] for m in marks), *(m["end"] for m in marks)})
    out = []
    for s, e in zip(cuts, cuts[1:]):
        on = [m for m in marks if m["start"] <= s and m["end"] >= e]
        out.append(_segment(text[s:e], on, [m["anchor"] for m in marks if m["start"] == s and m.get("anchor")]))
    return out


def _segment(text: str, on: list[dict[str, Any]], anchors: list[str]) -> dict[str, Any]:
    classes: list[str] = []
    seg: dict[str, Any] = {"text": text, "group": None, "quote": None, "figure": None, "anchors": anchors}
    passages = [m for m in on if m["kind"] == "passage"]
    if passages:
        # Overlapping groups: the shortest (most specific) passage gives the colour.
        best = min(passages, key=lambda m: (m["end"] - m["start"], m["group"]))
        seg["group"] = best["group"]
        classes += ["pg", f"pg-{best['colour']}"]
    if any(m["kind"] == "unique" for m in on):
        classes.append("uniq")
    quote = next((m for m in on if m["kind"] == "quote"), None)
    if quote:
        seg["quote"] = quote["anchor"]
        classes.append("qt")
    figure = next((m for m in on if m["kind"] == "figure"), None)
    if figure:
        seg["figure"] = figure["anchor"]
        classes.append("fig-conflict" if figure.get("conflict") else "fig")
    seg["classes"] = classes
    return seg


def anchor(kind: str, article_id: str, start: int) -> str:
    """The element id of a mark in an article column (``q-<article>-<start>``)."""
    return f"{kind}-{article_id}-{start}"


# ---------------------------------------------------------------- story page


def passage_groups(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Facts of kind passage, each with a colour index shared by all its carriers."""
    outlet = {a["article_id"]: a["outlet"] for a in doc["articles"]}
    groups = [f for f in doc["facts"] if f["kind"] == "passage"]
    return [{"fact_id": f["fact_id"], "label": f["label"], "colour": i % PALETTE, "status": f["status"],
             "outlets": f["outlets"], "origins": f["origins"],
             "carriers": [c | {"outlet": outlet.get(c["article_id"], "?"),
                               "anchor": anchor("p", c["article_id"], c["start"])} for c in f["carriers"]]}
            for i, f in enumerate(groups)]


def _figure_status(doc: dict[str, Any]) -> dict[tuple[str, int, int], tuple[str, str]]:
    status = {}
    for f in doc["facts"]:
        if f["kind"] == "figure":
            for c in f["carriers"]:
                status[(c["article_id"], c["start"], c["end"])] = (c["status"], f["fact_id"])
    return status


def figure_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure with its outlet, fact id and whether it conflicts with another outlet's."""
    outlet = {a["article_id"]: a["outlet"] for a in doc["articles"]}
    status = _figure_status(doc)
    rows = []
    for f in doc["figures"]:
        st, fact = status.get((f["article_id"], f["start"], f["end"]), (None, None))
        rows.append(f | {"outlet": outlet.get(f["article_id"], "?"), "fact_id": fact, "status": st,
                         "conflict": st == "conflict", "anchor": anchor("f", f["article_id"], f["start"])})
    return sorted(rows, key=lambda r: (not r["conflict"], r["unit"] or "", r["value"] or 0, r["outlet"]))


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text or "").strip().casefold()


def speakers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Quotes grouped by speaker, then by wording, with the outlets carrying each."""
    outlet = {a["article_id"]: a["outlet"] for a in doc["articles"]}
    by_speaker: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for q in doc["quotes"]:
        who = q["speaker"] or q["speaker_mention"] or "(unattributed)"
        item = by_speaker[who].setdefault(_norm(q["quote"]), {"quote": q["quote"], "outlets": [], "carriers": []})
        o = outlet.get(q["article_id"], "?")
        if o not in item["outlets"]:
            item["outlets"].append(o)
        item["carriers"].append({"article_id": q["article_id"], "outlet": o, "start": q["start"], "end": q["end"],
                                 "cue": q["cue"], "anchor": anchor("q", q["article_id"], q["start"])})
    out = [{"speaker": who, "quotes": list(items.values())} for who, items in by_speaker.items()]
    return sorted(out, key=lambda s: (s["speaker"] == "(unattributed)", -len(s["quotes"]), s["speaker"]))


def copy_graph(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Reuse edges (source → copy) with outlets and titles for display."""
    arts = {a["article_id"]: a for a in doc["articles"]}

    def name(aid: str, side: str) -> dict[str, Any]:
        a = arts.get(aid, {})
        return {f"{side}_outlet": a.get("outlet", "?"), f"{side}_title": a.get("title") or ""}

    return [e | name(e["source_id"], "source") | name(e["copy_id"], "copy") for e in doc["edges"]]


def matrix(doc: dict[str, Any]) -> dict[str, Any]:
    """Facts × outlets: reported / only here / conflict / omitted for each cell."""
    outlets = doc["outlets"]
    outlet = {a["article_id"]: a["outlet"] for a in doc["articles"]}
    rows = []
    for f in doc["facts"]:
        seen: dict[str, str] = {}
        for c in f["carriers"]:
            o = outlet.get(c["article_id"])
            if o is not None and seen.get(o) != "conflict":
                seen[o] = CELL.get(c["status"], c["status"])
        rows.append({"fact_id": f["fact_id"], "kind": f["kind"], "label": f["label"], "status": f["status"],
                     "cells": [seen.get(o, "omitted") for o in outlets]})
    return {"outlets": outlets, "rows": rows}


def _marks(doc: dict[str, Any], groups: list[dict[str, Any]], figures: list[dict[str, Any]]) -> dict[str, list]:
    marks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in groups:
        for c in g["carriers"]:
            marks[c["article_id"]].append({"kind": "passage", "start": c["start"], "end": c["end"],
                                           "group": g["fact_id"], "colour": g["colour"], "anchor": c["anchor"]})
    for u in doc["unique"]:
        marks[u["article_id"]].append({"kind": "unique", "start": u["start"], "end": u["end"]})
    for q in doc["quotes"]:
        marks[q["article_id"]].append({"kind": "quote", "start": q["start"], "end": q["end"],
                                       "anchor": anchor("q", q["article_id"], q["start"])})
    for f in figures:
        marks[f["article_id"]].append({"kind": "figure", "start": f["start"], "end": f["end"],
                                       "anchor": f["anchor"], "conflict": f["conflict"]})
    return marks


def story_page(doc: dict[str, Any]) -> dict[str, Any]:
    """The story page: the story document plus the groupings the page draws from it."""
    groups = passage_groups(doc)
    figures = figure_rows(doc)
    return doc | {"passage_groups": groups, "copy_graph": copy_graph(doc), "speakers": speakers(doc),
                  "figure_rows": figures, "figure_conflicts": sum(f["conflict"] for f in figures),
                  "matrix": matrix(doc)}


def article_segments(view: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Highlighted segments of every article of a story page view, by article id."""
    marks = _marks(view, view["passage_groups"], view["figure_rows"])
    return {a["article_id"]: segments(a["text"] or "", marks.get(a["article_id"], [])) for a in view["articles"]}


# ---------------------------------------------------------------- article page


def raw_lines(raw_text: str, text: str) -> list[dict[str, Any]]:
    """The page text line by line, each marked kept (in the cleaned body) or removed by cleaning."""
    kept = {_norm(line) for line in (text or "").splitlines() if line.strip()}
    return [{"text": line, "kept": bool(line.strip()) and _norm(line) in kept}
            for line in (raw_text or "").splitlines()]


def reuse(doc: dict[str, Any] | None, article_id: str) -> list[dict[str, Any]]:
    """Other articles of the story that share passages with ``article_id``, most shared words first.

    Each carries the copier's edits of their edge, read source -> copy (``this_is_source`` says
    which side this article is; for an undecided edge the smaller id stands as the source).
    """
    if doc is None:
        return []
    arts = {a["article_id"]: a for a in doc["articles"]}
    edge: dict[tuple[str, str], dict[str, Any]] = {}
    for e in doc["edges"]:
        edge[(e["source_id"], e["copy_id"])] = edge[(e["copy_id"], e["source_id"])] = e
    acc: dict[str, dict[str, Any]] = {}
    for s in doc["shared"]:
        if article_id not in (s["a_id"], s["b_id"]):
            continue
        other = s["b_id"] if s["a_id"] == article_id else s["a_id"]
        a = arts.get(other, {})
        e = edge.get((article_id, other))
        is_source = e is not None and e["source_id"] == article_id
        label = "shares passages" if e is None else "shares passages (direction undecided)" \
            if e["reason"] == "undecided" else "copied from this" if is_source else "source of this"
        item = acc.setdefault(other, {"article_id": other, "outlet": a.get("outlet", "?"),
                                      "title": a.get("title") or "", "passages": 0, "words": 0,
                                      "direction": label, "this_is_source": is_source,
                                      "edits": (e or {}).get("edits") or []})
        item["passages"] += 1
        item["words"] += s["words"]
    return sorted(acc.values(), key=lambda r: (-r["words"], r["article_id"]))


def article_page(row: dict[str, Any], doc: dict[str, Any] | None) -> dict[str, Any]:
    """The article page: the stored article, its story, reuse links and the page text line by line."""
    aid = row["article_id"]
    role = next((a["role"] for a in (doc or {}).get("articles", []) if a["article_id"] == aid), None)
    article = {k: row.get(k) for k in ("article_id", "path", "url", "outlet", "published", "title", "byline",
                                       "source_kind", "text", "raw_text")}
    return {"article": article, "role": role,
            "story": {k: doc[k] for k in SUMMARY} if doc else None,
            "reuse": reuse(doc, aid), "raw_lines": raw_lines(row.get("raw_text") or "", row.get("text") or "")}

"""Every command has help with an example and appears in the README (sqlite-utils' test_docs); story
documents are stored without article texts and what follows from them, and read back whole."""

from __future__ import annotations

import json
from pathlib import Path

import click
import orjson
import pytest
from click.testing import CliRunner

import storyline
from storyline.cli import cli
from storyline.steps.docs import FACT_FIELDS, resolve_story_speakers, restore, story_document
from storyline.store import Store
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, (*prefix, name)))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_docs_command_has_help_and_is_documented(path):
    res = CliRunner().invoke(cli, [*path, "-h"])
    assert res.exit_code == 0 and "Example:" in res.output
    assert f"storyline {' '.join(path)}" in README


# --- story documents ------------------------------------------------------------------------------

# Invented: one story told by two outlets, sharing a passage.
PASSAGE = ("Divers from the Kelmsby lifeboat station recovered the bronze ship's bell from the wreck of the "
           "schooner Marigold on Sunday, ninety years after she sank in a winter storm off the headland.")
STORY = [("harbour.example", "2025-03-02", "Grace Okafor, the station's coxswain, said the bell would go on show.\n\n"),
         ("tidings.example", "2025-03-03", "Okafor said the museum would clean the bell first.\n\n")]
# Invented too: a story of one article, with a quote and figures.
ALONE = ("The parish council approved a 45-metre slipway for the Kelmsby lifeboat on Tuesday after a vote of "
         "nine to two. \"We have waited long enough for this,\" said councillor Priya Nandakumar. Work on the "
         "slipway, which will cost 1.2 million pounds, starts in April and should take eleven weeks.")


@pytest.fixture(scope="module")
def bell_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bell")
    (folder / "bell.jsonl").write_text("".join(
        json.dumps({"id": f"bell-{i}", "outlet": o, "date": d, "title": f"Ship's bell {i}", "text": head + PASSAGE})
        + "\n" for i, (o, d, head) in enumerate(STORY))
        + json.dumps({"id": "slipway", "outlet": "quayside.example", "date": "2025-04-01", "title": "Slipway approved",
                      "text": ALONE}) + "\n", encoding="utf-8")
    storyline.run([str(folder / "bell.jsonl")], out=folder / "out")
    return folder / "out"


def test_docs_are_stored_without_texts_and_read_with_them(bell_store):
    stored = [orjson.loads(d) for d in Store(bell_store).read("docs", ["doc"])["doc"].to_pylist()]
    assert stored and all("text" not in a for d in stored for a in d["articles"])
    results = storyline.open(bell_store)
    texts = dict(zip(*results.table("articles").select(["article_id", "text"]).to_pydict().values()))
    docs = results.stories()
    assert [a["text"] for d in docs for a in d["articles"]] == [texts[a["article_id"]] for d in docs
                                                                  for a in d["articles"]]
    assert all(list(a) == sorted(a) for d in docs for a in d["articles"])  # as the stored JSON's keys were
    assert all(results.story(d["story_id"]) == d for d in docs)


def _key_order(x: object) -> bool:
    """Whether every dict in ``x`` has its keys in sorted order, as the stored JSON's were."""
    if isinstance(x, dict):
        return list(x) == sorted(x) and all(_key_order(v) for v in x.values())
    return all(_key_order(v) for v in x) if isinstance(x, list) else True


def test_read_documents_are_whole_as_the_stage_tables_give_them(bell_store):
    # What a document shows of its facts and quotes, rebuilt here from the facts and quotes tables
    # (not from the stored document): the reader must put back whatever the stored one leaves out.
    results = storyline.open(bell_store)
    docs = results.stories()
    assert sorted(d["size"] for d in docs) == [1, 2]  # a story of two outlets and a singleton
    texts = dict(zip(*results.table("articles").select(["article_id", "text"]).to_pydict().values()))
    facts = results.table("facts").to_pylist()
    quotes = {(q["article_id"], q["start"]): q["quote"] for q in results.table("quotes").to_pylist()}
    for d in docs:
        outlet = {a["article_id"]: a["outlet"] for a in d["articles"]}
        rows = [r for r in facts if r["story_id"] == d["story_id"]]
        assert [f["kind"] for f in d["facts"]].count("unique") > 0
        for f in d["facts"]:
            mine = [r for r in rows if r["fact_id"] == f["fact_id"]]
            assert f["label"] == mine[0]["label"]
            assert f["carriers"] == [{k: r[k] for k in ("article_id", "detail", "end", "start", "status")}
                                     for r in mine]
            assert f["cells"] == {o: next((("reported", r["status"])[r["status"] in ("conflict", "only_here")]
                                           for r in reversed(mine) if outlet[r["article_id"]] == o), "omitted")
                                  for o in d["outlets"]}
        assert d["unique"] == [{"article_id": r["article_id"], "end": r["end"], "start": r["start"]}
                               for r in rows if r["kind"] == "unique"]
        assert [q["quote"] for q in d["quotes"]] == [quotes[q["article_id"], q["start"]] for q in d["quotes"]]
        assert all(a["text"] == texts[a["article_id"]] for a in d["articles"])
        assert _key_order(d) and list(d) == sorted(d)
        assert results.story(d["story_id"]) == d
    assert quotes and sum(len(d["quotes"]) for d in docs) == len(quotes)
    # ... which the stored documents leave out, being that much smaller
    stored = [orjson.loads(x) for x in Store(bell_store).read("docs", ["doc"])["doc"].to_pylist()]
    assert all("unique" not in x and "text" not in a for x in stored for a in x["articles"])
    assert all("cells" not in f and "label" not in f for x in stored for f in x["facts"] if f["kind"] == "unique")
    assert all("quote" not in q for x in stored for q in x["quotes"])


# Invented: article a's text; b's is missing (null).
TEXT_A = "Oh, Divers recovered the bell from the 90 wreck: a's own text, and more of it."


def _span(piece: str) -> tuple[int, int]:
    return TEXT_A.index(piece), TEXT_A.index(piece) + len(piece)


def _fact_row(fid: str, kind: str, aid: str, span: tuple[int, int], label: str, status: str, outlets: int,
              detail: str | None = None, origins: int = 1) -> tuple:
    row = {"fact_id": fid, "kind": kind, "article_id": aid, "start": span[0], "end": span[1], "label": label,
           "status": status, "outlets": outlets, "origins": origins, "detail": detail}
    return tuple(row[k] for k in FACT_FIELDS)


def _carrier(aid: str, span: tuple[int, int], status: str, detail: str | None = None) -> dict:
    return {"article_id": aid, "detail": detail, "end": span[1], "start": span[0], "status": status}


def _restored(members: list[str], rows: list[tuple], quotes: list[dict],
              **tables: dict[str, list[dict]]) -> tuple[dict, dict]:
    """The document of story ``s`` of ``members`` (of a, b) as stored (parsed) and as read back;
    ``tables``: alignments, edges, figures by owning article."""
    texts = {"a": TEXT_A, "b": None}
    articles = {aid: {"article_id": aid, "path": f"{aid}.json", "record": 0, "url": None, "outlet": outlet,
                      "published": day, "title": f"Bell {aid}", "byline": None, "text": texts[aid]}
                for aid, outlet, day in (("a", "harbour.example", "2025-03-02"),
                                         ("b", "tidings.example", "2025-03-03"))}
    built = story_document("s", [{"article_id": a, "role": "origin"} for a in members], articles,
                           {"quotes": {a: [q for q in quotes if q["article_id"] == a] for a in members},
                            "alignments": {}, "edges": {}, "figures": {}} | tables, rows)
    stored = orjson.loads(orjson.dumps(built, option=orjson.OPT_SORT_KEYS))
    doc = restore(orjson.loads(orjson.dumps(stored)), {a: texts[a] for a in members})
    assert _key_order(doc) and orjson.dumps(doc) == orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    assert [a["text"] for a in doc["articles"]] == [texts[a] for a in members]
    return stored, doc


def test_restore_gives_the_whole_document_where_a_text_is_missing():
    passage, bell = _span("Divers recovered the bell"), _span("the bell")
    figure, own = _span("90"), _span("a's own text")
    rows = [_fact_row("p1", "passage", "a", passage, TEXT_A[slice(*passage)], "shared", 2),
            _fact_row("p1", "passage", "b", (10, 36), TEXT_A[slice(*passage)], "shared", 2),
            _fact_row("f1", "figure", "a", figure, "90", "shared", 2, "90"),
            _fact_row("f1", "figure", "b", (50, 52), "90", "conflict", 2, "91"),
            # b has no text: its piece's label is not a span restore can give, so it stays stored
            _fact_row("u2", "unique", "b", (60, 70), "Only in b", "only_here", 1),
            _fact_row("u0", "unique", "a", bell, "the bell", "only_here", 1),
            _fact_row("u1", "unique", "a", own, "a's own text", "only_here", 1)]
    quotes = [{"article_id": "a", "start": passage[0], "end": passage[0] + 16, "quote": "Divers recovered",
               "speaker": "Grace Okafor", "speaker_mention": "Okafor", "cue": "said"},
              {"article_id": "b", "start": 0, "end": 9, "quote": "It is ours", "speaker": None,
               "speaker_mention": None, "cue": None}]
    stored, doc = _restored(["a", "b"], rows, quotes)
    both = {"harbour.example": "omitted", "tidings.example": "omitted"}
    assert doc["facts"] == [
        {"carriers": [_carrier("a", passage, "shared"), _carrier("b", (10, 36), "shared")],
         "cells": {"harbour.example": "reported", "tidings.example": "reported"}, "fact_id": "p1",
         "kind": "passage", "label": "Divers recovered the bell", "origins": 1, "outlets": 2, "status": "shared"},
        {"carriers": [_carrier("a", figure, "shared", "90"), _carrier("b", (50, 52), "conflict", "91")],
         "cells": {"harbour.example": "reported", "tidings.example": "conflict"}, "fact_id": "f1",
         "kind": "figure", "label": "90", "origins": 1, "outlets": 2, "status": "conflict"},
        {"carriers": [_carrier("a", bell, "only_here")], "cells": both | {"harbour.example": "only_here"},
         "fact_id": "u0", "kind": "unique", "label": "the bell", "origins": 1, "outlets": 1, "status": "only_here"},
        {"carriers": [_carrier("a", own, "only_here")], "cells": both | {"harbour.example": "only_here"},
         "fact_id": "u1", "kind": "unique", "label": "a's own text", "origins": 1, "outlets": 1, "status": "only_here"},
        {"carriers": [_carrier("b", (60, 70), "only_here")], "cells": both | {"tidings.example": "only_here"},
         "fact_id": "u2", "kind": "unique", "label": "Only in b", "origins": 1, "outlets": 1, "status": "only_here"}]
    assert doc["unique"] == [{"article_id": "b", "end": 70, "start": 60}, {"article_id": "a", "end": bell[1],
                             "start": bell[0]}, {"article_id": "a", "end": own[1], "start": own[0]}]  # rows' order
    assert doc["quotes"] == [dict(sorted(q.items())) for q in quotes]
    # stored: without what restore gives back, with what it could not
    facts = {f["fact_id"]: f for f in stored["facts"]}
    assert all("cells" not in f for f in facts.values())
    assert [fid for fid, f in facts.items() if "label" in f] == ["u2"]  # f1's "90" is its span of a's text too
    assert sorted(facts["p1"]) == ["carriers", "fact_id", "kind", "status"]  # two outlets carry it: shared
    assert [len(c) for c in facts["f1"]["carriers"]] == [5, 4]  # the fact is in conflict: b, not a
    assert [len(c) for c in facts["u0"]["carriers"]] == [3]
    assert [q.get("quote") for q in stored["quotes"]] == [None, "It is ours"]
    assert "unique" in stored  # the rows' order is not the one restore gives


def test_restore_gives_the_whole_document_of_a_singleton():
    figure, own, tail = _span("90"), _span("a's own text"), _span("and more of it.")
    rows = [_fact_row("f1", "figure", "a", figure, "90 m", "only_here", 1, "90", origins=2),
            _fact_row("u0", "unique", "a", own, "a's own text", "only_here", 1),
            _fact_row("u1", "unique", "a", tail, "and more of it.", "only_here", 1)]
    stored, doc = _restored(["a"], rows, [])
    one = {"harbour.example": "only_here"}
    assert doc["facts"] == [
        {"carriers": [_carrier("a", figure, "only_here", "90")], "cells": one, "fact_id": "f1", "kind": "figure",
         "label": "90 m", "origins": 2, "outlets": 1, "status": "only_here"},
        {"carriers": [_carrier("a", own, "only_here")], "cells": one, "fact_id": "u0", "kind": "unique",
         "label": "a's own text", "origins": 1, "outlets": 1, "status": "only_here"},
        {"carriers": [_carrier("a", tail, "only_here")], "cells": one, "fact_id": "u1", "kind": "unique",
         "label": "and more of it.", "origins": 1, "outlets": 1, "status": "only_here"}]
    assert doc["unique"] == [{"article_id": "a", "end": own[1], "start": own[0]},
                             {"article_id": "a", "end": tail[1], "start": tail[0]}]
    assert "unique" not in stored and [f.get("label") for f in stored["facts"]] == ["90 m", None, None]
    # a unique piece's outlets, origins and status are the usual ones: its kind and place are stored
    assert [sorted(f) for f in stored["facts"]] == [["carriers", "fact_id", "kind", "label", "origins"],
                                                    ["carriers", "fact_id", "kind"], ["carriers", "fact_id", "kind"]]


def test_restore_gives_edge_edits_and_figures_back():
    passage, figure = _span("Divers recovered the bell"), _span("90")
    context = TEXT_A[:TEXT_A.index(":")]
    alignment = {"a_id": "a", "a_start": passage[0], "a_end": passage[1], "b_id": "b", "b_start": 10, "b_end": 36,
                 "score": 0.9, "words": 4, "edits": '[["the bell", "a bell"], ["", "old"]]'}
    edge = {"source_id": "b", "copy_id": "a", "shared_words": 4, "containment": 0.5, "reason": "date",
            "edits": [{"source_words": "a bell", "copy_words": "the bell"}, {"source_words": "old", "copy_words": ""}]}
    figures = [{"article_id": "a", "start": figure[0], "end": figure[1], "value": 90.0, "unit": None,
                "surface": "90", "context": context},
               # b has no text: its figure keeps its words
               {"article_id": "b", "start": 3, "end": 5, "value": 91.0, "unit": None, "surface": "91",
                "context": "At 91 metres."}]
    whole_figures = [dict(sorted(f.items())) for f in figures]
    for edits, stored_edits in ((edge["edits"], None), ([], [])):  # the alignments' own edits, or others
        stored, doc = _restored(["a", "b"], [], [], alignments={"a": [alignment]},
                                edges={"b": [edge | {"edits": edits}]}, figures={"a": figures[:1], "b": figures[1:]})
        assert doc["shared"] == [{k: v for k, v in sorted(alignment.items())} | {"edits": [["the bell", "a bell"],
                                                                                           ["", "old"]]}]
        assert doc["edges"] == [dict(sorted((edge | {"edits": [dict(sorted(e.items())) for e in edits]}).items()))]
        assert doc["figures"] == whole_figures
        assert stored["edges"][0].get("edits") == stored_edits
        assert stored["figures"] == [{"article_id": "a", "context_span": [0, len(context)], "end": figure[1],
                                      "start": figure[0], "unit": None, "value": 90.0},
                                     {k: v for k, v in whole_figures[1].items()}]


def test_restore_keeps_the_values_a_whole_document_holds():
    # A document stored whole (as before) reads as stored, texts put back in key order.
    whole = {"articles": [{"article_id": "a", "outlet": "x", "role": "origin", "title": "T"},
                          {"article_id": "b", "outlet": "y", "role": "copy", "text": "stale", "title": "U"}],
             "facts": [{"carriers": [{"article_id": "a", "detail": None, "end": 3, "start": 0, "status": "shared"}],
                        "cells": {"x": "reported", "y": "omitted"}, "fact_id": "f", "kind": "passage",
                        "label": "not the span", "origins": 1, "outlets": 1, "status": "shared"}],
             "outlets": ["x", "y"], "quotes": [{"article_id": "a", "end": 3, "quote": "own words", "start": 0}],
             "figures": [{"article_id": "a", "context": "not in a", "end": 3, "start": 0, "surface": "nor this",
                          "unit": None, "value": 1.0}],
             "shared": [{"a_id": "a", "a_start": 0, "a_end": 3, "b_id": "b", "b_start": 0, "b_end": 3,
                         "edits": [["al", "be"]], "score": 1.0, "words": 1}],
             "edges": [{"containment": 1.0, "copy_id": "b", "edits": [], "reason": "date", "shared_words": 1,
                        "source_id": "a"}],
             "unique": [{"article_id": "b", "end": 2, "start": 1}]}
    whole = orjson.loads(orjson.dumps(whole, option=orjson.OPT_SORT_KEYS))  # as stored
    out = restore(orjson.loads(orjson.dumps(whole)), {"a": "alpha", "b": "beta"})
    assert out["articles"] == [{"article_id": "a", "outlet": "x", "role": "origin", "text": "alpha", "title": "T"},
                               {"article_id": "b", "outlet": "y", "role": "copy", "text": "beta", "title": "U"}]
    assert orjson.dumps({k: v for k, v in out.items() if k != "articles"}) == \
        orjson.dumps({k: v for k, v in whole.items() if k != "articles"})
    assert _key_order(out)


def test_resolve_story_speakers_reads_names_of_texts_holding_the_cleaned_surname():
    # The possessive mention cleans to "Okafor"; only the second text names her in full.
    quotes = [{"speaker": "Okafor’s"}, {"speaker": "Tom Alder"}, {"speaker": None}]
    resolve_story_speakers(quotes, ["Nothing of note happened at the quay.", "Grace Okafor spoke at noon."])
    assert [q["speaker"] for q in quotes] == ["Grace Okafor", "Tom Alder", None]

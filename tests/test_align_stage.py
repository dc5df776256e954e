"""Alignment stages end to end: edge edits, reuse clusters and alignment timeouts in a real store.

Every text is invented: a wire story with a reprint that edits it, and three outlets that carry
one shared passage between their own opening and closing paragraphs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import storyline
from storyline import model
from storyline.cli import cli
from storyline.config import AlignConfig, PipelineConfig
from storyline.web import create_app
from tests.test_align import HARWICK, HARWICK_EDITS, REPRINT

SHARED = ("Engineers at the Oskarsfjord desalination plant switched on the third membrane hall at dawn, "
          "raising daily output to ninety thousand cubic metres, enough drinking water for every household "
          "on the northern peninsula during the dry months ahead.")
OWN = [
    ("north.example", "2025-06-01",
     "Fishermen in Brattvik harbour mended nets while gulls circled the quay.",
     "Local councillors will debate the water tariff at their autumn session."),
    ("coast.example", "2025-06-01",
     "A cold wind swept across the ferry terminal as commuters queued for tickets.",
     "Tourist operators hope cheaper water will bring cruise ships back next summer."),
    ("valley.example", "2025-06-02",
     "Schoolchildren planted birch saplings along the river embankment on Tuesday.",
     "Farmers inland still depend on wells that ran low during last year's drought."),
]


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _harwick(folder: Path) -> Path:
    return _jsonl(folder / "harwick.jsonl", [
        {"id": "wire-1", "outlet": "wire.example", "date": "2025-05-01", "title": "Bridge engineers", "text": HARWICK},
        {"id": "gazette-1", "outlet": "gazette.example", "date": "2025-05-02", "title": "US engineers for bridge",
         "text": REPRINT},
    ])


def _fjord(folder: Path) -> Path:
    return _jsonl(folder / "fjord.jsonl", [
        {"id": f"fjord-{i}", "outlet": o, "date": d, "title": f"Water plant {i}", "text": f"{head}\n\n{SHARED}\n\n{tail}"}
        for i, (o, d, head, tail) in enumerate(OWN)])


@pytest.fixture(scope="module")
def harwick_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("harwick")
    storyline.run([str(_harwick(folder))], out=folder / "out")
    return folder / "out"


def _ids_by_outlet(out: Path) -> dict[str, str]:
    arts = storyline.open(out).table("articles")
    return dict(zip(arts["outlet"].to_pylist(), arts["article_id"].to_pylist()))


def test_stage_edge_edits_are_typed_and_read_wire_to_reprint(harwick_store):
    ids = _ids_by_outlet(harwick_store)
    edges = storyline.open(harwick_store).table("edges")
    assert edges.schema.field("edits").type == pa.list_(model.REUSE_EDIT)
    (edge,) = edges.to_pylist()
    assert (edge["source_id"], edge["copy_id"], edge["reason"]) == (ids["wire.example"], ids["gazette.example"], "date")
    assert [(e["source_words"], e["copy_words"]) for e in edge["edits"]] == HARWICK_EDITS
    # The typed column is plain SQL in the store's DuckDB views.
    rows = storyline.open(harwick_store).store.query(
        "select e.source_words, e.copy_words from (select unnest(edits) as e from edges)")
    assert [(r["source_words"], r["copy_words"]) for r in rows] == HARWICK_EDITS


def test_stage_edge_edits_reach_story_documents_and_web_pages(harwick_store):
    ids = _ids_by_outlet(harwick_store)
    (doc,) = storyline.open(harwick_store).stories()
    (edge,) = doc["edges"]
    assert [(e["source_words"], e["copy_words"]) for e in edge["edits"]] == HARWICK_EDITS
    client = TestClient(create_app(harwick_store))
    story = client.get(f"/story/{doc['story_id']}").text
    assert "4 edits by the copier" in story and "wire.example → gazette.example" in story
    assert "<del>large numbers of</del> → <ins>many</ins>" in story
    assert '<del>senior</del> → <ins class="none">(nothing)</ins>' in story
    copy_page = client.get(f"/article/{ids['gazette.example']}").text
    assert "wire.example → this article" in copy_page and "<del>closed</del> → <ins>private</ins>" in copy_page
    wire_json = client.get(f"/article/{ids['wire.example']}.json").json()
    (link,) = wire_json["reuse"]
    assert link["this_is_source"] and link["direction"] == "copied from this"
    assert [(e["source_words"], e["copy_words"]) for e in link["edits"]] == HARWICK_EDITS


def test_stage_reuse_clusters_one_passage_three_articles(tmp_path):
    src = _fjord(tmp_path)
    storyline.run([str(src)], out=tmp_path / "out")
    clusters = storyline.open(tmp_path / "out").table("reuse_clusters")
    assert clusters.schema.equals(model.REUSE_CLUSTER)
    arts = storyline.open(tmp_path / "out").table("articles")
    text = dict(zip(arts["article_id"].to_pylist(), arts["text"].to_pylist()))
    rows = clusters.to_pylist()
    assert len({r["cluster_id"] for r in rows}) == 1 and len(rows) == 3
    assert {r["article_id"] for r in rows} == set(text)
    for r in rows:  # the span is exactly the shared passage (to its last word), found twice per article
        assert text[r["article_id"]][r["start"]:r["end"]] == SHARED.rstrip(".") and r["passages"] == 2
    first = min((r["article_id"], r["start"]) for r in rows)
    assert rows[0]["cluster_id"] == model.stable_id("reuse", *first)
    # Deterministic: a second store built from the same input holds the very same table.
    storyline.run([str(src)], out=tmp_path / "again")
    assert storyline.open(tmp_path / "again").table("reuse_clusters").equals(clusters)


def test_stage_reuse_clusters_recomputed_only_when_alignments_or_overlap_change(tmp_path):
    src, out = str(_fjord(tmp_path)), tmp_path / "out"
    storyline.run([src], out=out)
    store = storyline.open(out).store
    before = {t: store.manifest(t)["parts"] for t in ("alignments", "edges", "reuse_clusters")}
    storyline.run([src], out=out)
    assert {t: store.manifest(t)["parts"] for t in before} == before
    # cluster_overlap only shapes the clusters: the alignments and edges stay, the clusters are redone.
    storyline.run([src], out=out, config=PipelineConfig(align=AlignConfig(cluster_overlap=0.9)))
    assert store.manifest("alignments")["parts"] == before["alignments"]
    assert store.manifest("edges")["parts"] == before["edges"]
    assert store.manifest("reuse_clusters")["parts"] != before["reuse_clusters"]


def test_stage_align_timeout_is_a_reject_and_a_rerun_clears_it(tmp_path):
    src, out = str(_harwick(tmp_path)), tmp_path / "out"
    storyline.run([src], out=out, config=PipelineConfig(align=AlignConfig(timeout_s=1e-6)))
    r = storyline.open(out)
    ids = _ids_by_outlet(out)
    (rej,) = [x for x in r.table("rejects").to_pylist() if x["stage"] == "align"]
    assert rej["reason"] == "timeout" and set(rej["path"].split("|")) == set(ids.values())
    assert rej["page_id"] is None and rej["detail"].startswith("timeout:")
    assert r.table("alignments").num_rows == 0 and r.table("edges").num_rows == 0
    assert r.table("reuse_clusters").num_rows == 0
    listed = CliRunner().invoke(cli, ["rejects", str(out)]).output
    assert f"{rej['path']}\talign\ttimeout\t" in listed
    # With the default limit the pair aligns; its old reject goes rather than piling up.
    storyline.run([src], out=out)
    assert [x for x in r.table("rejects").to_pylist() if x["stage"] == "align"] == []
    assert r.table("alignments").num_rows == 2 and r.table("edges").num_rows == 1


def test_stage_every_export_table_is_a_cli_choice():
    from storyline import export

    option = next(p for p in cli.commands["export"].params if p.name == "name")
    assert list(option.type.choices) == list(export.TABLES) and "reuse_clusters" in export.TABLES


def test_stage_pairs_aligned_group_by_group_equal_the_whole_view(tmp_path):
    from storyline import pipeline
    from storyline.engines.local import LocalEngine
    from storyline.steps.align import Align, Direction, pair_passages

    out = tmp_path / "out"
    storyline.run([str(_fjord(tmp_path)), str(_harwick(tmp_path))], out=out)
    store, engine = storyline.open(out).store, LocalEngine()
    articles = store.read("articles")
    pairs = store.read("pairs")
    whole = engine.map(Align(AlignConfig()), pipeline._pair_view(pairs, articles, ["text"]))
    assert pairs.num_rows >= 4 and whole.num_rows > pairs.num_rows
    passages = pair_passages(whole.drop_columns(["_reject"]))
    edges = engine.map(Direction(), pipeline._pair_view(passages, articles, ["text", "published"]))
    for rows in (1, 2, 1000):  # one pair, a few, all at once
        assert pipeline._map_pairs(store, engine, Align(AlignConfig()), pairs, ["text"], rows).equals(whole)
        assert pipeline._map_pairs(store, engine, Direction(), passages, ["text", "published"], rows).equals(edges)

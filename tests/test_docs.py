"""Every command has help with an example and appears in the README (sqlite-utils' test_docs); story
documents are stored without article texts and read back with them."""

from __future__ import annotations

import json
from pathlib import Path

import click
import orjson
import pytest
from click.testing import CliRunner

import storyline
from storyline.cli import cli
from storyline.steps.docs import resolve_story_speakers, with_texts
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


@pytest.fixture(scope="module")
def bell_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bell")
    (folder / "bell.jsonl").write_text("".join(
        json.dumps({"id": f"bell-{i}", "outlet": o, "date": d, "title": f"Ship's bell {i}", "text": head + PASSAGE})
        + "\n" for i, (o, d, head) in enumerate(STORY)), encoding="utf-8")
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


def test_with_texts_fills_and_replaces_text_in_key_order():
    doc = {"articles": [{"article_id": "a", "role": "origin", "title": "T"},
                        {"article_id": "b", "role": "copy", "text": "stale", "title": "U"}]}
    out = with_texts(doc, {"a": "alpha", "b": "beta"})
    assert out["articles"] == [{"article_id": "a", "role": "origin", "text": "alpha", "title": "T"},
                               {"article_id": "b", "role": "copy", "text": "beta", "title": "U"}]
    assert [list(a) for a in out["articles"]] == [["article_id", "role", "text", "title"]] * 2


def test_resolve_story_speakers_reads_names_of_texts_holding_the_cleaned_surname():
    # The possessive mention cleans to "Okafor"; only the second text names her in full.
    quotes = [{"speaker": "Okafor’s"}, {"speaker": "Tom Alder"}, {"speaker": None}]
    resolve_story_speakers(quotes, ["Nothing of note happened at the quay.", "Grace Okafor spoke at noon."])
    assert [q["speaker"] for q in quotes] == ["Grace Okafor", "Tom Alder", None]

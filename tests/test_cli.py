"""End to end through the CLI: the seed pages, the bundled example, export, stdin, rejects."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import storyline
from storyline.cli import cli
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "corpus"


def _run(*args: str, input: str | None = None):
    res = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return res


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory):
    seeds = ROOT.parent / "shared" / "data" / "seeds"
    if not seeds.is_dir():
        pytest.skip("../shared/data/seeds not found")
    out = tmp_path_factory.mktemp("seeds") / "out"
    res = _run("run", str(seeds), "-o", str(out))
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.fixture(scope="module")
def seed_story(seed_store):
    out, _ = seed_store
    res = _run("export", str(out), "--format", "jsonl")
    stories = [json.loads(line) for line in res.output.splitlines()]
    assert len(stories) == 1, "both seed pages tell one story"
    return stories[0]


def test_cli_seeds_one_story_with_both_pages(seed_story):
    assert len(seed_story["articles"]) == 2
    assert {Path(a["path"]).name[:3] for a in seed_story["articles"]} == {"000", "001"}


FURNITURE = [
    re.compile(r"^.{1,40}\|\s*\d{1,2}/\d{1,2}/\d{4}", re.M),  # reader comment headers
    re.compile(r"^\s*\d+\.\d+ seconds\s*$", re.M),  # page timer
    re.compile(r"[\w.]+@[\w.]+\.\w+"),  # e-mail
    re.compile(r"sign(ing)? ?in|sign ?up|register|previous post|comment", re.I),
]


def test_cli_seeds_bodies_clean_and_complete(seed_story):
    for art in seed_story["articles"]:
        body = art["text"]
        for pat in FURNITURE:
            assert not pat.search(body), (art["path"], pat.pattern, pat.search(body))
        raw = Path(art["path"]).read_text(encoding="utf-8")
        # Every long quoted paragraph of the page is article text and must be kept.
        for line in raw.splitlines():
            if len(line) > 200 and re.search(r"[“\"]", line) and not re.search(r"\|\s*\d+/\d+/\d{4}", raw[: raw.find(line)][-200:]):
                assert line.strip() in body, line[:80]


def test_cli_seeds_shared_passages_aligned(seed_story):
    texts = {a["article_id"]: a["text"] for a in seed_story["articles"]}
    shared = seed_story["shared"]
    assert len(shared) >= 3
    for p in shared:
        a = texts[p["a_id"]][p["a_start"]:p["a_end"]]
        b = texts[p["b_id"]][p["b_start"]:p["b_end"]]
        assert len(a.split()) >= 12 and len(b.split()) >= 12
    joined = " ".join(texts[p["a_id"]][p["a_start"]:p["a_end"]] for p in shared)
    assert "out-rush" in joined and "removed from the battlefield" in joined
    assert seed_story["unique"], "each page's own lines are reported"
    assert {u["article_id"] for u in seed_story["unique"]} == set(texts)


def test_cli_seeds_quotes_have_full_names(seed_story):
    speakers = {q["speaker"] for q in seed_story["quotes"]}
    assert {"Nicholas Rasmussen", "Jim Mattis", "Lahur Talabany"} <= speakers
    texts = {a["article_id"]: a["text"] for a in seed_story["articles"]}
    for q in seed_story["quotes"]:
        assert texts[q["article_id"]][q["start"]:q["end"]] == q["quote"]


def test_cli_seeds_figures_per_outlet(seed_story):
    by_article: dict[str, set[float]] = {}
    for f in seed_story["figures"]:
        by_article.setdefault(f["article_id"], set()).add(f["value"])
    assert len(by_article) == 2
    assert all(40000.0 in v for v in by_article.values())
    assert sum(15000.0 in v for v in by_article.values()) == 1


def test_cli_seeds_summary_printed(seed_store):
    _, output = seed_store
    assert "1 stories" in output and "Rasmussen" in output


def test_cli_rerun_adds_only_new_articles(seed_store, tmp_path):
    out, _ = seed_store
    before = storyline.open(out).table("articles").num_rows
    res = _run("run", str(ROOT.parent / "shared" / "data" / "seeds"), str(EXAMPLE), "-o", str(out))
    assert res.exit_code == 0, res.output
    arts = storyline.open(out).table("articles")
    assert arts.num_rows == before + 4
    assert len(set(arts["article_id"].to_pylist())) == arts.num_rows
    again = _run("run", str(EXAMPLE), "-o", str(out))
    assert "0 new articles" in again.output
    assert storyline.open(out).table("articles").num_rows == arts.num_rows


def test_cli_example_corpus_stories(tmp_path):
    out = tmp_path / "out"
    res = _run("run", str(EXAMPLE), "-o", str(out))
    assert res.exit_code == 0, res.output
    stories = storyline.open(out).stories()
    sizes = sorted(s["size"] for s in stories)
    assert sizes == [1, 3], [(s["title"], s["size"]) for s in stories]
    dam = next(s for s in stories if s["size"] == 3)
    assert dam["independent_sources"] == 2  # the wire + its reprint count once; the local report once
    assert any(f["kind"] == "figure" and f["status"] == "conflict" for f in dam["facts"])  # 120 vs 150 soldiers


@pytest.fixture(scope="module")
def example_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("example") / "out"
    assert _run("run", str(EXAMPLE), "-o", str(out)).exit_code == 0
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("table", ["stories", "articles", "alignments", "edges", "reuse_clusters", "quotes", "figures",
                                   "facts", "rejects"])
def test_cli_export_formats(example_store, tmp_path, fmt, table):
    import pyarrow.parquet as pq

    dest = tmp_path / f"x.{fmt}"
    res = _run("export", str(example_store), "--format", fmt, "--table", table, "-o", str(dest))
    assert res.exit_code == 0, res.output
    rows = storyline.open(example_store).table(table).num_rows
    if fmt == "jsonl":
        assert len(dest.read_text(encoding="utf-8").splitlines()) == rows
    elif fmt == "csv":
        import csv

        with dest.open(encoding="utf-8", newline="") as fh:
            assert len(list(csv.reader(fh))) == rows + 1  # header
    else:
        assert pq.read_table(dest).num_rows == rows


def test_cli_stdin_and_bad_files_are_rejected_not_fatal(tmp_path):
    good = (EXAMPLE / "03_more.jsonl").read_text(encoding="utf-8")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "junk.bin").write_bytes(b"\x00\x01")
    (tmp_path / "in" / "empty.txt").write_text("")
    out = tmp_path / "out"
    res = _run("run", "-", str(tmp_path / "in"), "-o", str(out), input=good)
    assert res.exit_code == 0, res.output
    r = storyline.open(out)
    assert r.table("articles").num_rows == 2
    reasons = sorted(r.table("rejects")["reason"].to_pylist())
    assert reasons == ["empty", "unsupported"]
    listing = _run("rejects", str(out)).output
    assert "junk.bin" in listing and "unsupported" in listing


def test_cli_clean_jsonl(seeds):
    res = _run("clean", str(seeds), "--jsonl")
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert len(rows) == 2 and all(r["text"] and r["path"] for r in rows)


def test_cli_errors_are_clear(tmp_path):
    res = CliRunner().invoke(cli, ["run", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "nostore")])
    assert res.exit_code == 1 and "not a storyline store" in res.output
    res = CliRunner().invoke(cli, ["export", str(tmp_path), "--format", "xml"])
    assert res.exit_code == 2


def test_cli_python_m_and_help():
    res = subprocess.run([sys.executable, "-m", "storyline", "-h"], capture_output=True, text=True, check=True)
    for cmd in ("run", "clean", "export", "rejects", "serve", "story"):
        assert cmd in res.stdout


def test_cli_same_input_same_export(tmp_path):
    outs = []
    for name in ("one", "two"):
        out = tmp_path / name
        assert _run("run", str(EXAMPLE), "-o", str(out)).exit_code == 0
        outs.append(_run("export", str(out), "--format", "jsonl").output)
    assert outs[0] == outs[1]


def test_cli_story_split_and_merge_persist_across_runs(tmp_path):
    out = tmp_path / "out"
    assert _run("run", str(EXAMPLE), "-o", str(out)).exit_code == 0
    dam = next(s for s in storyline.open(out).stories() if s["size"] == 3)
    moved = next(a["article_id"] for a in dam["articles"] if a["role"] == "independent")
    res = _run("story", "split", str(out), moved)
    assert res.exit_code == 0, res.output
    sizes = sorted(s["size"] for s in storyline.open(out).stories())
    assert sizes == [1, 1, 2]
    assert _run("run", str(EXAMPLE), "-o", str(out)).exit_code == 0  # a rerun keeps the correction
    assert sorted(s["size"] for s in storyline.open(out).stories()) == [1, 1, 2]
    ids = [s["story_id"] for s in storyline.open(out).stories() if s["size"] == 1]
    res = _run("story", "merge", str(out), *ids)
    assert res.exit_code == 0, res.output
    assert sorted(s["size"] for s in storyline.open(out).stories()) == [2, 2]
    bad = CliRunner().invoke(cli, ["story", "merge", str(out), "nope"])
    assert bad.exit_code == 1


def test_cli_seeds_corroboration_counts_reuse_once(seed_story):
    outlet = {a["article_id"]: a["outlet"] for a in seed_story["articles"]}
    facts = seed_story["facts"]
    shared_quotes = [f for f in facts if f["kind"] == "quote" and f["outlets"] == 2]
    assert len(shared_quotes) >= 3 and all(f["origins"] == 1 for f in shared_quotes)  # one wire origin
    own = [f for f in facts if f["kind"] == "quote" and f["outlets"] == 1]
    assert {f["label"].split(":")[0] for f in own} >= {"Jim Mattis", "Lahur Talabany"}
    fig = {f["label"]: f for f in facts if f["kind"] == "figure"}
    assert fig["15,000 extremists"]["outlets"] == 1
    assert sorted(fig["15,000 extremists"]["cells"].values()) == ["omitted", "only_here"]
    turkey = [f for f in facts if f["kind"] == "unique" and "Turkey" in f["label"]]
    assert len({outlet[c["article_id"]] for f in turkey for c in f["carriers"]}) == 2  # each page's own line
    assert all(f["outlets"] == 1 for f in turkey)
    assert seed_story["independent_sources"] == 1

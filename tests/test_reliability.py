"""Bad input, interruption, concurrent readers, determinism: nothing lost, nothing crashes."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import storyline
from storyline import config
from storyline.config import FiguresConfig, IngestConfig, QuotesConfig
from storyline.steps import ingest
from storyline.steps.base import REJECT_COLUMN
from storyline.steps.figures import Figures
from storyline.steps.quotes import Quotes
from tests.conftest import ROOT, SHARED

SUFFIXES = [".txt", ".html", ".htm.gz", ".jsonl", ".warc.gz", ".warc", ".bin"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_reliability_readers_never_raise_on_arbitrary_bytes(tmp_path, data, suffix):
    f = tmp_path / f"fuzz{suffix}"
    f.write_bytes(data)
    items = list(ingest.read([str(f)]))
    assert items, "every input yields a page or a reject"
    for it in items:
        assert isinstance(it, (ingest.Page, ingest.Reject))
        if isinstance(it, ingest.Reject):
            assert it.reason and it.path == str(f)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(st.text(max_size=200), st.dictionaries(st.text(max_size=8), st.text(max_size=50))),
                      max_size=8))
def test_reliability_jsonl_lines_each_page_or_reject(tmp_path, lines):
    f = tmp_path / "x.jsonl"
    f.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x.replace("\n", " ") for x in lines),
                 encoding="utf-8")
    items = list(ingest.read([str(f)]))
    assert len(items) <= max(1, len(lines))


def _whole_file_jsonl(path: Path) -> list:
    """The pages and rejects of a JSONL file read the way every other kind is: the whole file at once."""
    text = ingest.decode(ingest.read_bytes(str(path), "jsonl"))
    return [ingest.Reject(str(path), 0, "binary", "file is not text")] if text is None else \
        list(ingest.read_jsonl(str(path), text.split("\n")))


@pytest.mark.parametrize("name,data,streamed", [
    ("plain.jsonl", "\n\n".join(json.dumps({"id": i, "text": f"Body {i} \u2028 é 政府", "date": "2020-01-02"})
                                  for i in range(5)).encode() + b"\r\n{bad json\n\n", True),
    ("packed.jsonl.gz", gzip.compress(b"".join(json.dumps({"text": f"t{i}"}).encode() + b"\n" for i in range(9))), True),
    ("legacy.jsonl", json.dumps({"text": "déclaré"}, ensure_ascii=False).encode("cp1252") + b"\n", False),
    ("nul.jsonl", b"\x00" * 300 + b'\n{"text": "x"}\n', False),
    ("cut.jsonl.gz", gzip.compress(b'{"text": "x"}\n' * 50)[:-12], False),
    ("empty.jsonl", b"", True),
])
def test_reliability_jsonl_read_as_a_stream_gives_what_a_whole_read_gives(tmp_path, name, data, streamed):
    path = tmp_path / name
    path.write_bytes(data)
    assert ingest._streams(str(path), IngestConfig()) is streamed  # big files are never held whole
    try:
        want = _whole_file_jsonl(path)
    except EOFError as exc:
        want = [ingest.Reject(str(path), 0, "unreadable", f"{type(exc).__name__}: {exc}")]
    assert list(ingest.read_file(str(path), "jsonl", IngestConfig())) == want
    assert len(want) == {"plain.jsonl": 6, "packed.jsonl.gz": 9, "empty.jsonl": 0}.get(name, 1)


@pytest.mark.parametrize(
    "text,encoding",
    [
        ("وقال المتحدث إن الحكومة ستعلن القرار غدا بعد اجتماع مجلس الوزراء في العاصمة. " * 20, "cp1256"),
        ("政府发言人表示，内阁将在明天的会议后宣布这一决定，并将发布详细说明。" * 20, "gb18030"),
        ("Le porte-parole a déclaré que la décision serait annoncée après la réunion. " * 20, "cp1252"),
    ],
)
def test_reliability_legacy_encodings_decode(tmp_path, text, encoding):
    f = tmp_path / "page.txt"
    f.write_bytes(text.encode(encoding))
    page = next(iter(ingest.read([str(f)])))
    assert isinstance(page, ingest.Page)
    assert text[:20] in page.content


def test_reliability_truncated_warc_keeps_earlier_records(tmp_path):
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    for i in range(3):
        html = f"<html><body><p>Record {i} body text.</p></body></html>".encode()
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.0")
        w.write_record(w.create_warc_record(f"https://example.com/{i}", "response", payload=io.BytesIO(html),
                                            http_headers=headers))
    data = buf.getvalue()
    f = tmp_path / "cut.warc.gz"
    for cut in (0.5, 0.8, 0.9):
        f.write_bytes(data[: int(len(data) * cut)])
        items = list(ingest.read([str(f)]))
        pages = [i for i in items if isinstance(i, ingest.Page)]
        rejects = [i for i in items if isinstance(i, ingest.Reject)]
        assert len(pages) >= 1 and len(rejects) == 1 and rejects[0].reason == "bad_warc", (cut, items)


def test_reliability_huge_and_nested_pages(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (IngestConfig().max_page_bytes // 5 + 10))
    nested = tmp_path / "nested.html"
    nested.write_text("<div>" * 5000 + "<p>Deep paragraph of real text that is long enough to count.</p>"
                      + "</div>" * 5000, encoding="utf-8")
    out = tmp_path / "out"
    r = storyline.run([str(big), str(nested)], out=out)
    rejects = {Path(x["path"]).name: x["reason"] for x in r.table("rejects").to_pylist()}
    assert rejects["big.txt"] == "too_large"
    assert r.table("articles").num_rows + len(rejects) == 2  # nothing silently lost


def _real_articles() -> list[dict]:
    """PolNeAR then BASIL articles as JSONL rows, in file order."""
    rows = []
    for line in (SHARED / "polnear-train.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        rows.append({"id": r["filename"], "text": r["text"], "title": r["title"], "outlet": r["publisher"],
                     "date": r["publication_date"]})
    for line in (SHARED / "basil-dev.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        rows.append({"id": r["id"], "text": r["text"], "title": r["title"], "outlet": r["source"], "date": r["date"]})
    return rows


def _corpus(dest: Path, originals: int, reprints: int) -> Path:
    """``originals`` real articles plus ``reprints`` edited reprints of them (dropped paragraphs, "says"),
    a record with no text and a line that is not JSON (two rejects)."""
    rows = _real_articles()[:originals]
    sources = list(rows)
    rng = random.Random(7)
    for k in range(reprints):
        r = sources[k] if reprints <= len(sources) else rng.choice(sources)
        keep = [p for p in r["text"].split("\n\n") if rng.random() > 0.3] or [r["text"]]
        rows.append({"id": f"{r['id']}-reprint-{k}", "text": "\n\n".join(keep).replace(" said", " says"),
                     "title": r["title"], "outlet": f"reprinter{k % 7}", "date": r["date"]})
    rows.append({"id": "broken"})  # a reject
    f = dest / "corpus.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n", encoding="utf-8")
    return f


def _cmd(corpus: Path, out: Path, cfg: Path, jobs: int = 1) -> list[str]:
    return [sys.executable, "-m", "storyline", "run", str(corpus), "-o", str(out), "--config", str(cfg), "-j", str(jobs)]


def _snapshot(out: Path) -> dict[str, list[str]]:
    """Every stored table as sorted JSON rows, plus the ``stories`` export: equal snapshots = equal stores."""
    r = storyline.open(out)
    snap = {}
    for name in r.store.tables():
        rows = r.store.read(name).to_pylist()
        snap[name] = sorted(json.dumps(x, sort_keys=True, default=str) for x in rows)
    snap["export:stories"] = sorted(json.dumps(s, sort_keys=True, default=str) for s in r.stories())
    return snap


# Where a kill lands: after the run has committed ``steps`` more parts of a per-article table (mid-stage),
# or some random time after it rewrote a corpus table (inside the stages that follow it).
# Stages in run order: quotes and figures are computed after clustering (beside it with workers).
KILL_AT = {
    "ingest": ["articles"],
    "per_article": ["keys", "terms"],
    "corpus_early": ["pairs", "alignments", "edges"],
    "corpus_late": ["stories", "quotes", "figures", "facts"],
}
PER_ARTICLE_TABLES = ("articles", "keys", "terms", "quotes", "figures")


def _progress(out: Path, table: str) -> tuple:
    try:
        m = json.loads((out / table / "_manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return (0, None)
    return (len(m.get("done_parts", m["parts"])), m["parts"])


def _kill_during(cmd: list[str], out: Path, table: str, rng: random.Random) -> str | None:
    """Start ``cmd``, SIGKILL it once ``table`` moves on; what it killed during, or None if it finished first."""
    corpus_table = table not in PER_ARTICLE_TABLES
    steps = 1 if corpus_table else rng.randint(1, 4)
    delay = rng.uniform(0.0, 1.5) if corpus_table else rng.uniform(0.0, 0.05)
    before = _progress(out, table)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            now = _progress(out, table)
            if (now[1] != before[1]) if corpus_table else (now[0] >= before[0] + steps):
                time.sleep(delay)
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return f"{table}+{steps if not corpus_table else f'{delay:.2f}s'}"
            time.sleep(0.01)
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.skipif(not (SHARED / "polnear-train.jsonl").exists(), reason="../shared/data not found")
@pytest.mark.parametrize("originals,reprints,chunk,plan,jobs", [
    # with workers, quotes and figures run beside the corpus stages: a kill lands in both at once
    (400, 150, 100, ["ingest", "per_article", "corpus_late"], 2),
    (975, 1525, 150, ["ingest", "per_article", "per_article", "corpus_early", "corpus_late"], 1),
], ids=["small-j2", "scale"])
def test_reliability_kill_9_then_resume_equals_uninterrupted(tmp_path, record_property, originals, reprints, chunk,
                                                             plan, jobs):
    t0 = time.monotonic()
    corpus = _corpus(tmp_path, originals, reprints)
    cfg = tmp_path / "small-chunks.toml"
    cfg.write_text(f"[ingest]\nchunk_pages = {chunk}\n", encoding="utf-8")
    ref = tmp_path / "ref"
    storyline.run([str(corpus)], out=ref, config=config.load(cfg))  # uninterrupted, in this process alone
    out = tmp_path / "killed"
    rng = random.Random(11)
    tables = {stage: rng.sample(choices, len(choices)) for stage, choices in KILL_AT.items()}  # distinct per stage
    kills = [_kill_during(_cmd(corpus, out, cfg, jobs), out, tables[stage].pop(), rng) for stage in plan]
    subprocess.run(_cmd(corpus, out, cfg, jobs), check=True, capture_output=True)
    got, want = _snapshot(out), _snapshot(ref)
    ids = [json.loads(x)["article_id"] for x in got["articles"]]
    want_ids = {json.loads(x)["article_id"] for x in want["articles"]}
    numbers = {"articles": len(want_ids), "kills": [k for k in kills if k], "lost": len(want_ids - set(ids)),
               "duplicates": len(ids) - len(set(ids)), "seconds": round(time.monotonic() - t0, 1)}
    print(f"kill -9 resume: {numbers}")
    record_property("kill_9_resume", json.dumps(numbers))
    assert len(numbers["kills"]) >= len(plan) - 1, kills  # a kill can miss only if its run finished first
    assert numbers["lost"] == 0 and numbers["duplicates"] == 0, numbers
    assert got.keys() == want.keys()
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, f"{differ} differ after kills {kills}"


def test_reliability_reader_sees_consistent_store_while_run_appends(tmp_path):
    example = ROOT / "examples" / "corpus"
    out = tmp_path / "out"
    storyline.run([str(example / "01_wire_dam.txt")], out=out)
    errors: list[BaseException] = []
    sizes: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                r = storyline.open(out)
                docs = r.stories()
                ids = {a["article_id"] for d in docs for a in d["articles"]}
                sizes.append(len(ids))
            except BaseException as exc:  # noqa: BLE001 - any error is a failure here
                errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for f in sorted(example.iterdir()):
            subprocess.run([sys.executable, "-m", "storyline", "run", str(f), "-o", str(out)], check=True,
                           capture_output=True)
    finally:
        stop.set()
        t.join()
    assert not errors, errors[:3]
    assert sizes and max(sizes) == 4


def test_reliability_clean_timeout_rejects_the_page_not_the_batch():
    from storyline.config import CleanConfig
    from storyline.steps.clean import Clean

    slow = "<html><body>" + "<p>Long paragraph of text that goes on and on for a while.</p>" * 20000 + "</body></html>"
    fine = "Headline here\n\n" + "A normal paragraph with enough words to count as an article body. " * 5
    pages, _ = ingest.to_tables([ingest._page("slow.html", 0, "html", slow), ingest._page("ok.txt", 0, "text", fine)])
    # The slow page takes seconds; 0.5 s leaves the small page room on a loaded machine.
    out = Clean(CleanConfig(timeout_s=0.5))(pages).to_pylist()
    assert out[0]["_reject"].startswith("timeout") and out[1]["_reject"] is None and out[1]["text"]


@pytest.mark.parametrize("raw,iso", [
    ("2017-07-22", "2017-07-22"), ("22/7/2017", "2017-07-22"), ("July 22, 2017", "2017-07-22"),
    ("Sat, 22 Jul 2017 10:00:00 +0000", "2017-07-22"), ("22.07.2017", "2017-07-22"), ("not a date", None),
])
def test_reliability_dates_in_any_format(tmp_path, raw, iso):
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"text": "A paragraph of article text that is long enough to be kept as a body. " * 3,
                             "date": raw}) + "\n", encoding="utf-8")
    r = storyline.run([str(f)], out=tmp_path / "out")
    assert r.table("articles")["published"].to_pylist() == [iso]


QUOTED = ("“We will not accept this at all,” said Maria Lopez, the mayor of Riverton. She added that 40 percent "
          "of 3,000 families had left the valley since the flood.")


def _huge_and_normal() -> pa.Table:
    # The huge article has the normal one's quotes and figures thousands of times: seconds of work, linear.
    return pa.table({"article_id": ["huge", "normal"], "text": [(QUOTED + "\n\n") * 20000, QUOTED]})


def test_reliability_time_limit_holds_when_the_alarm_is_swallowed():
    # Python swallows an exception raised inside a gc callback or a __del__: a record whose alarm
    # fired there still ends as timed out instead of passing.
    from storyline.steps.base import StepTimeout, time_limit

    with pytest.raises(StepTimeout):
        with time_limit(0.02):
            try:
                time.sleep(0.2)
            except StepTimeout:
                pass  # swallowed


def test_reliability_record_limits_time_each_record_and_restore_the_alarm_handler():
    # One handler for a whole batch: a slow record times out, the records after it get a fresh
    # timer, a swallowed alarm still counts, and the caller's own SIGALRM handler comes back.
    import signal

    from storyline.steps.base import StepTimeout, record_limits

    def swallowing() -> str:
        try:
            time.sleep(0.2)
        except StepTimeout:
            pass
        return "done"

    def mine(signum, frame):  # pragma: no cover - never fires
        pass

    before = signal.signal(signal.SIGALRM, mine)
    try:
        with record_limits(0.05) as limited:
            got = [limited(time.sleep, 0.2), limited(len, "abc"), limited(swallowing), limited(int, "x")]
        assert got == [(None, "timeout: > 0.05s"), (3, None), (None, "timeout: > 0.05s"), (None, "error: ValueError")]
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        signal.signal(signal.SIGALRM, before)


@pytest.mark.parametrize("make", [lambda t: Quotes(QuotesConfig(timeout_s=t)),
                                  lambda t: Figures(FiguresConfig(timeout_s=t))], ids=["quotes", "figures"])
def test_reliability_per_article_step_timeout_rejects_the_article_not_the_batch(make):
    out = make(0.05)(_huge_and_normal())
    rows = out.to_pylist()
    huge = [r for r in rows if r["article_id"] == "huge"]
    normal = [r for r in rows if r["article_id"] == "normal"]
    assert len(huge) == 1 and huge[0][REJECT_COLUMN].startswith("timeout")
    assert normal and all(r[REJECT_COLUMN] is None for r in normal)
    tiny = make(1e-6)(pa.table({"article_id": ["huge"], "text": [(QUOTED + "\n\n") * 2500]}))
    assert tiny[REJECT_COLUMN].to_pylist() == ["timeout: > 1e-06s"]
    whole = make(0)(_huge_and_normal())  # 0 = no limit: everything found
    assert pc.all(pc.is_null(whole[REJECT_COLUMN])).as_py()
    assert pc.count_distinct(whole["article_id"]).as_py() == 2


def test_reliability_quotes_figures_timeouts_go_to_rejects_through_the_pipeline(tmp_path):
    f = tmp_path / "in.jsonl"
    rows = [{"id": "huge", "title": "Huge", "text": (QUOTED + "\n\n") * 5000, "outlet": "big"},
            {"id": "normal", "title": "Normal", "text": QUOTED + "\n\n" + QUOTED.replace("Riverton", "Lakeside"),
             "outlet": "small"}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    tight = config.load(overrides={"quotes": {"timeout_s": 0.01}, "figures": {"timeout_s": 0.01}})
    r = storyline.run([str(f)], out=out, config=tight)
    articles = {a["title"]: a["article_id"] for a in r.table("articles").to_pylist()}
    assert set(articles) == {"Huge", "Normal"}  # the article stays
    rejects = [x for x in r.table("rejects").to_pylist() if x["stage"] in ("quotes", "figures")]
    assert sorted((x["stage"], x["reason"], x["page_id"]) for x in rejects) == [
        ("figures", "timeout", articles["Huge"]), ("quotes", "timeout", articles["Huge"])]
    assert all(x["path"] == str(f) and x["record"] == 0 for x in rejects)
    for name in ("quotes", "figures"):
        ids = set(r.table(name)["article_id"].to_pylist())
        assert ids == {articles["Normal"]}, name  # the stage's output for the huge article is empty
    # A rerun adds nothing; a config without the limit redoes the stages and drops their old rejects.
    r = storyline.run([str(f)], out=out, config=tight)
    assert len([x for x in r.table("rejects").to_pylist() if x["stage"] in ("quotes", "figures")]) == 2
    r = storyline.run([str(f)], out=out, config=config.load(overrides={"quotes": {"timeout_s": 0},
                                                                      "figures": {"timeout_s": 0}}))
    assert not [x for x in r.table("rejects").to_pylist() if x["stage"] in ("quotes", "figures")]
    for name in ("quotes", "figures"):
        assert set(r.table(name)["article_id"].to_pylist()) == set(articles.values()), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=4000).map(lambda b: b.decode("utf-8", "replace")),
    st.lists(st.sampled_from(["<html>", "<body>", "<p>", "</p>", "<div>", "</div>", "<script>", "</script>",
                              "<!--", "-->", "<![CDATA[", "]]>", "<br/>", "&amp;", "&#0;", "&#x110000;", "\x00",
                              "<meta charset='x'>", "<title>", "</title>", "\n\n", "word ", "Said the mayor. ",
                              "“", "”", "<a href='javascript:x'>", "</a>", "<table><tr><td>", "\ud7ff", "\u202e"]),
             max_size=400).map("".join),
), kind=st.sampled_from(["html", "text"]), meta=st.booleans())
def test_reliability_clean_never_raises_on_arbitrary_text_or_html(data, kind, meta):
    from storyline.config import CleanConfig
    from storyline.steps.clean import Clean

    page = ingest._page("fuzz.html" if kind == "html" else "fuzz.txt", 0, kind, data)
    pages, _ = ingest.to_tables([page])
    if meta:  # scraped metadata is as untrusted as the body
        pages = pages.set_column(pages.schema.get_field_index("title"), "title", pa.array([data[:200]], pa.string()))
        pages = pages.set_column(pages.schema.get_field_index("published"), "published",
                                 pa.array([data[:40]], pa.string()))
    out = Clean(CleanConfig(timeout_s=10))(pages)
    assert out.num_rows == 1 and out.schema.equals(Clean.output_schema)
    row = out.to_pylist()[0]
    assert row["article_id"] == page.page_id
    if row[REJECT_COLUMN] is None:  # kept: a body of the configured minimum length
        assert len(row["text"]) >= CleanConfig().min_body_chars
    else:
        assert row["text"] == "" and not row[REJECT_COLUMN].startswith("clean_error"), row[REJECT_COLUMN]


def _story_consistent(doc: dict) -> list[str]:
    """What is wrong with one ``/story/<id>.json`` document (nothing, for a consistent one)."""
    problems = []
    texts = {a["article_id"]: a["text"] or "" for a in doc["articles"]}
    if len(texts) != len(doc["articles"]) or doc["size"] != len(texts) or not texts:
        problems.append(f"size {doc['size']} but {len(doc['articles'])} articles, {len(texts)} distinct")
    if doc["outlets"] != sorted({a["outlet"] for a in doc["articles"]}):
        problems.append("outlets differ from the articles' outlets")
    refs = [("shared", s[k]) for s in doc["shared"] for k in ("a_id", "b_id")]
    refs += [(part, r["article_id"]) for part in ("quotes", "figures", "unique") for r in doc[part]]
    refs += [("edges", e[k]) for e in doc["edges"] for k in ("source_id", "copy_id")]
    refs += [("facts", c["article_id"]) for f in doc["facts"] for c in f["carriers"]]
    problems += [f"{part} names {aid}, not a member" for part, aid in refs if aid not in texts]
    problems += [f"quote {q['start']}:{q['end']} is not at its offsets" for q in doc["quotes"]
                 if q["article_id"] in texts and texts[q["article_id"]][q["start"]:q["end"]] != q["quote"]]
    problems += [f"figure {f['start']}:{f['end']} is not at its offsets" for f in doc["figures"]
                 if f["article_id"] in texts and texts[f["article_id"]][f["start"]:f["end"]] != f["surface"]]
    return problems


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (SHARED / "basil-dev.jsonl").exists(), reason="../shared/data not found")
def test_reliability_server_answers_while_runs_add_articles(tmp_path, record_property):
    import httpx

    # BASIL's same-event articles dealt round-robin into batches, so later runs grow earlier stories.
    rows = _real_articles()[-135:] + _real_articles()[:45]
    batches = []
    for k in range(4):
        f = tmp_path / f"batch{k}.jsonl"
        f.write_text("\n".join(json.dumps(r) for r in rows[k::4]) + "\n", encoding="utf-8")
        batches.append(f)
    out = tmp_path / "out"
    storyline_cmd = [sys.executable, "-m", "storyline"]
    subprocess.run([*storyline_cmd, "run", str(batches[0]), "-o", str(out)], check=True, capture_output=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_file = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([*storyline_cmd, "serve", str(out), "--port", str(port)], stdout=log_file,
                              stderr=subprocess.STDOUT)
    stop = threading.Event()
    counts: Counter = Counter()
    errors: list[str] = []
    totals: set[int] = set()

    def get(session: httpx.Client, path: str) -> httpx.Response:
        r = session.get(base + path, timeout=60)
        kind = path.split("/")[1]  # "", "stories.json", "stories.csv", "story", "article"
        counts[(kind if "." in kind or not kind else kind + (".json" if path.endswith(".json") else "")) or "/"] += 1
        return r

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(trust_env=False) as session:
            while not stop.is_set():
                try:
                    listing = get(session, "/stories.json")
                    if listing.status_code != 200:
                        errors.append(f"/stories.json -> {listing.status_code}")
                        continue
                    data = listing.json()
                    totals.add(data["total"])
                    ids = [s["story_id"] for s in data["stories"]]
                    if len(set(ids)) != len(ids) or data["count"] != len(ids):
                        errors.append(f"listing: {len(ids)} rows, {len(set(ids))} ids, count {data['count']}")
                    for sid in rng.sample(ids, min(3, len(ids))):
                        r = get(session, f"/story/{sid}.json")
                        if r.status_code == 404:  # correct only if a later snapshot really dropped the story
                            if sid in {s["story_id"] for s in get(session, "/stories.json").json()["stories"]}:
                                errors.append(f"/story/{sid}.json -> 404 but the story is listed")
                            continue
                        if r.status_code != 200:
                            errors.append(f"/story/{sid}.json -> {r.status_code}")
                            continue
                        doc = r.json()
                        errors.extend(f"/story/{sid}.json: {p}" for p in _story_consistent(doc))
                        html = get(session, f"/story/{sid}")
                        if html.status_code not in (200, 404):
                            errors.append(f"/story/{sid} -> {html.status_code}")
                        for a in rng.sample(doc["articles"], min(2, len(doc["articles"]))):
                            aid = a["article_id"]  # articles are only ever added: always 200
                            for path in (f"/article/{aid}.json", f"/article/{aid}"):
                                r = get(session, path)
                                if r.status_code != 200:
                                    errors.append(f"{path} -> {r.status_code}")
                                elif path.endswith(".json") and r.json()["article"]["article_id"] != aid:
                                    errors.append(f"{path} answered another article")
                    for path in ("/", "/stories.csv"):
                        if get(session, path).status_code != 200:
                            errors.append(f"{path} -> not 200")
                except Exception as exc:  # noqa: BLE001 - a dropped connection or bad JSON is a failure
                    errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(seed,)) for seed in (1, 2)]
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/stories.json", timeout=5, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "storyline serve did not start"
            time.sleep(0.2)
        for t in threads:
            t.start()
        for f in batches[1:]:
            subprocess.run([*storyline_cmd, "run", str(f), "-o", str(out)], check=True, capture_output=True)
        time.sleep(1.0)  # let the clients read the last snapshot
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.terminate()
        server.wait(timeout=30)
        log_file.close()
    docs = storyline.open(out).stories()
    numbers = {"requests": sum(counts.values()), "by_endpoint": dict(counts), "errors": len(errors),
               "snapshots_seen": sorted(totals), "final_stories": len(docs)}
    print(f"serve under concurrent runs: {numbers}")
    record_property("serve_concurrency", json.dumps(numbers))
    assert not errors, errors[:5]
    assert len(totals) >= 2 and len(docs) in totals, "the clients must have seen the store change, and its end state"
    assert counts["story.json"] >= 20 and counts["article.json"] >= 20, counts


def test_reliability_clean_atheris_fuzz_smoke():
    """A short coverage-guided run of tests/fuzz/clean_atheris.py (longer runs by hand; skipped without atheris)."""
    pytest.importorskip("atheris")
    res = subprocess.run([sys.executable, str(ROOT / "tests" / "fuzz" / "clean_atheris.py"), "-runs=3000",
                          "-max_len=4096", "-timeout=30", "-seed=1"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "Done 3000 runs" in res.stderr, res.stderr[-3000:]

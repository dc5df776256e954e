from __future__ import annotations

import gzip
import io
import json

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from storyline.config import IngestConfig
from storyline.errors import InputError
from storyline.steps import ingest


def _warc(path, html: bytes, url: str = "https://www.example.com/a") -> None:
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.0")
        w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(html), http_headers=headers))


def test_ingest_reads_every_kind(tmp_path):
    (tmp_path / "a.txt").write_text("Some page text.\n\nMore.", encoding="utf-8")
    (tmp_path / "b.html.gz").write_bytes(gzip.compress(b"<html><body><p>Hello</p></body></html>"))
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"text": "Body one", "title": "T", "url": "https://www.news.com/x", "date_publish": "2020-01-02"})
        + "\n" + json.dumps({"maintext": "Body two", "outlet": "Wire"}) + "\n", encoding="utf-8")
    _warc(tmp_path / "d.warc.gz", b"<html><body><p>From warc</p></body></html>")
    items = list(ingest.read([str(tmp_path)]))
    kinds = sorted(i.source_kind for i in items if isinstance(i, ingest.Page))
    assert kinds == ["html", "jsonl", "jsonl", "text", "warc"]
    jl = [i for i in items if isinstance(i, ingest.Page) and i.source_kind == "jsonl"]
    assert jl[0].outlet == "news.com" and jl[0].published == "2020-01-02" and jl[1].outlet == "Wire"
    warc = next(i for i in items if isinstance(i, ingest.Page) and i.source_kind == "warc")
    assert warc.url == "https://www.example.com/a" and "From warc" in warc.content


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("x.bin", b"\x00\x01\x02", "unsupported"),
        ("x.txt", b"\x00" * 200 + b"abc", "binary"),
        ("x.txt", b"   \n\n", "empty"),
        ("x.html.gz", b"\x1f\x8b\x08\x00broken", "unreadable"),
        ("x.warc.gz", b"\x1f\x8b" + b"\x00" * 20, "bad_warc"),
    ],
)
def test_ingest_rejects_bad_files(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    items = list(ingest.read([str(tmp_path / name)]))
    assert len(items) == 1 and isinstance(items[0], ingest.Reject)
    assert items[0].reason == reason and items[0].path.endswith(name)


def test_ingest_jsonl_bad_lines_are_rejected_and_rest_kept(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"text": "ok one"}\n{broken\n[1,2]\n{"title": "no text"}\n{"text": "ok two"}\n', encoding="utf-8")
    items = list(ingest.read([str(f)]))
    assert [type(i).__name__ for i in items] == ["Page", "Reject", "Reject", "Reject", "Page"]
    assert [i.reason for i in items if isinstance(i, ingest.Reject)] == ["bad_json", "bad_json", "no_text"]


def test_ingest_legacy_encoding_is_decoded(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes("Café société, naïve résumé — déjà vu. " .encode("cp1252") * 20)
    page = next(iter(ingest.read([str(f)])))
    assert isinstance(page, ingest.Page) and "société" in page.content


def test_ingest_too_large_is_rejected(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x" * 1000, encoding="utf-8")
    items = list(ingest.read([str(f)], IngestConfig(max_page_bytes=100)))
    assert items[0].reason == "too_large"


def test_ingest_missing_path_raises_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list(ingest.read([str(tmp_path / "nope")]))


def test_ingest_page_ids_are_stable(tmp_path):
    (tmp_path / "a.txt").write_text("Same text", encoding="utf-8")
    first = next(iter(ingest.read([str(tmp_path)])))
    second = next(iter(ingest.read([str(tmp_path / "a.txt")])))
    assert first.page_id == second.page_id


def test_ingest_to_tables_splits_pages_and_rejects(tmp_path):
    (tmp_path / "a.txt").write_text("Text", encoding="utf-8")
    (tmp_path / "b.bin").write_bytes(b"\x00")
    pages, rejects = ingest.to_tables(ingest.read([str(tmp_path)]))
    assert pages.num_rows == 1 and rejects.num_rows == 1 and rejects["stage"].to_pylist() == ["ingest"]


def test_ingest_read_ahead_keeps_order_raises_in_order_and_stops_with_the_caller():
    import threading

    from storyline import pipeline

    assert list(pipeline._read_ahead(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise ValueError("bad chunk")

    got = []
    with pytest.raises(ValueError, match="bad chunk"):
        for x in pipeline._read_ahead(failing()):
            got.append(x)
    assert got == [1, 2]  # every item before the error arrives first

    drawn = []

    def endless():
        i = 0
        while True:
            drawn.append(i)
            yield i
            i += 1

    reader = pipeline._read_ahead(endless(), depth=1)
    assert [next(reader) for _ in range(3)] == [0, 1, 2]
    reader.close()  # the caller stops: so does the thread, a bounded way ahead
    assert not any(t.name == "storyline-read" and t.is_alive() for t in threading.enumerate())
    assert len(drawn) <= 3 + 2

"""Read files, folders or stdin into :class:`~storyline.model.Page` records.

Supported: whole-page text (``.txt``), HTML (``.html``/``.htm``, gzipped too), JSONL (one article
per line) and WARC (``.warc``/``.warc.gz``). A file or record that cannot be read becomes a
:class:`Reject` with its path and reason; reading goes on.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pyarrow as pa
from charset_normalizer import from_bytes

from .. import model
from ..config import IngestConfig
from ..errors import InputError
from ..model import Page

KINDS = {
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".warc": "warc",
}
ALLOWED = ", ".join(sorted(KINDS)) + " (and .gz of each)"


@dataclass(frozen=True, slots=True)
class Reject:
    """An input that could not be read, with why."""

    path: str
    record: int
    reason: str
    detail: str = ""


def kind_of(path: str) -> str | None:
    """The reader for ``path`` from its suffixes, or None when unsupported."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return KINDS.get(Path(name).suffix)


def expand(inputs: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """Yield ``(path, kind)`` for every file under the inputs, sorted, ``-`` meaning stdin.

    Raises:
        InputError: an input path does not exist.
    """
    for item in inputs:
        if item == "-":
            yield "-", None
            continue
        p = Path(item)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")):
                yield str(f), kind_of(f.name)
        elif p.is_file():
            yield str(p), kind_of(p.name)
        else:
            raise InputError(f"input {item!r} does not exist; give files, folders or - for stdin")


def _binary(head: bytes, nuls: int, size: int) -> bool:
    """Binary data: a NUL in the first 4 KiB (``head``) and NULs over 1% of the ``size`` bytes."""
    return b"\x00" in head[:4096] and nuls > size // 100


def decode(data: bytes, default: str = "utf-8") -> str | None:
    """Bytes to text: ``default`` if it decodes, else the detected charset; None for binary data."""
    if not data:
        return ""
    if _binary(data, data.count(b"\x00"), len(data)):
        return None
    try:
        return data.decode(default)
    except UnicodeDecodeError:
        best = from_bytes(data[:200_000]).best()
        if best is None:
            return None
        return data.decode(best.encoding, errors="replace")


def sniff(data: bytes) -> str:
    """Guess the kind of stdin data from its first bytes."""
    head = data[:2048].lstrip()
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"{"):
        return "jsonl"
    if head[:1] == b"<":
        return "html"
    return "text"


def read_bytes(path: str, kind: str | None) -> bytes:
    """The bytes of ``path`` (``-`` is stdin), gunzipped when gzip magic is present.

    WARC files stay compressed: warcio reads gzip member by member, so the records before a
    truncation survive.
    """
    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b" and kind != "warc":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError):
            if kind is not None:
                raise
            # stdin: maybe a gzipped WARC, whose members warcio reads itself
    return raw


def host(url: str | None) -> str | None:
    """The host of ``url`` without ``www.``, or None."""
    if not url:
        return None
    netloc = urlsplit(url).netloc.lower().split(":")[0]
    return netloc[4:] if netloc.startswith("www.") else (netloc or None)


def _page(path: str, record: int, kind: str, content: str, **meta: str | None) -> Page:
    key = meta.get("url") or Path(path).name
    extras = {k: str(v) for k, v in (meta.pop("extras", None) or {}).items()}  # type: ignore[union-attr]
    return Page(
        page_id=model.stable_id(key, record, model.stable_id(content)),
        path=path,
        record=record,
        source_kind=kind,
        content=content,
        extras=extras,
        **meta,  # type: ignore[arg-type]
    )


def _first(obj: dict, *keys: str) -> str | None:
    for k in keys:
        v = obj.get(k)
        if v not in (None, ""):
            return str(v)
    return None


def read_jsonl(path: str, lines: Iterable[str]) -> Iterator[Page | Reject]:
    """One article per line: ``text``/``maintext`` plus optional metadata."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Reject(path, i, "bad_json", str(exc))
            continue
        if not isinstance(obj, dict):
            yield Reject(path, i, "bad_json", "line is not a JSON object")
            continue
        body = _first(obj, "text", "maintext", "content", "body")
        if body is None:
            yield Reject(path, i, "no_text", "no text/maintext field")
            continue
        url = _first(obj, "url", "source_url")
        yield _page(
            path,
            i,
            "jsonl",
            body,
            url=url,
            title=_first(obj, "title"),
            outlet=_first(obj, "outlet", "publisher", "source_domain", "source") or host(url),
            published=_first(obj, "date", "date_publish", "published", "publication_date"),
            extras={"id": _first(obj, "id", "article_id") or ""} if _first(obj, "id", "article_id") else {},
        )


def read_warc(path: str, data: bytes, cfg: IngestConfig) -> Iterator[Page | Reject]:
    """HTML responses of a WARC file; other records are skipped, broken ones rejected."""
    from warcio.archiveiterator import ArchiveIterator

    i = -1
    records = ArchiveIterator(io.BytesIO(data))
    try:
        for i, rec in enumerate(records):
            if rec.rec_type != "response":
                continue
            if rec.rec_headers.get_header("Content-Length") is None:  # a member cut mid-header
                yield Reject(path, i, "bad_warc", "truncated record: no Content-Length")
                continue
            ctype = (rec.http_headers.get_header("Content-Type") if rec.http_headers else "") or ""
            if "html" not in ctype.lower():
                continue
            url = rec.rec_headers.get_header("WARC-Target-URI")
            body = rec.content_stream().read()
            if len(body) > cfg.max_page_bytes:
                yield Reject(path, i, "too_large", f"{len(body)} bytes > max_page_bytes")
                continue
            html = decode(body, cfg.default_encoding)
            if html is None:
                yield Reject(path, i, "binary", "WARC record body is not text")
                continue
            yield _page(
                path, i, "warc", html, url=url, outlet=host(url), published=rec.rec_headers.get_header("WARC-Date")
            )
    except Exception as exc:  # warcio raises several types on truncated archives
        yield Reject(path, i + 1, "bad_warc", f"{type(exc).__name__}: {exc}")
        return
    # warcio stops quietly at a truncated gzip member: unread trailing bytes mean a lost record.
    if i >= 0 and records.get_record_offset() + (records.get_record_length() or 0) < len(data):
        yield Reject(path, i + 1, "bad_warc", "truncated: the archive ends inside a record")


def _open(path: str) -> IO[bytes]:
    """``path`` for reading, gunzipped as it is read when gzip magic is present (as :func:`read_bytes`)."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # type: ignore[return-value]


def _streams(path: str, cfg: IngestConfig) -> bool:
    """Whether the JSONL file ``path`` reads line by line exactly as :func:`decode` reads it whole.

    So it does when it is readable, not binary, and valid in a default encoding that is UTF-8 (a
    \\n byte is then always a line end). One pass checks that without keeping the file; any other
    file is read whole, as before, for the very same pages and rejects.
    """
    if path == "-" or codecs.lookup(cfg.default_encoding).name != "utf-8":
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    head, size, nuls = b"", 0, 0
    try:
        with _open(path) as f:
            while chunk := f.read(1 << 24):
                head += chunk[:4096 - len(head)]
                size += len(chunk)
                nuls += chunk.count(b"\x00")
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error):
        return False
    return not _binary(head, nuls, size)


def _lines(path: str) -> Iterator[str]:
    """The lines of a UTF-8 file (see :func:`_streams`), one at a time."""
    # JSONL lines end with \n only: str.splitlines would also split inside strings at U+0085, U+2028...
    with _open(path) as f:
        for line in f:
            yield line.rstrip(b"\n").decode("utf-8")


def read_file(path: str, kind: str | None, cfg: IngestConfig) -> Iterator[Page | Reject]:
    """Every page in one input file; never raises for bad content."""
    if kind == "jsonl" and _streams(path, cfg):  # big files: never the whole file in memory
        yield from read_jsonl(path, _lines(path))
        return
    try:
        data = read_bytes(path, kind)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield Reject(path, 0, "unreadable", f"{type(exc).__name__}: {exc}")
        return
    kind = kind or (("warc" if data[:2] == b"\x1f\x8b" else sniff(data)) if path == "-" else None)
    if kind is None:
        yield Reject(path, 0, "unsupported", f"unknown file type; supported: {ALLOWED}")
        return
    if kind == "warc":
        yield from read_warc(path, data, cfg)
        return
    if len(data) > cfg.max_page_bytes and kind != "jsonl":
        yield Reject(path, 0, "too_large", f"{len(data)} bytes > max_page_bytes={cfg.max_page_bytes}")
        return
    text = decode(data, cfg.default_encoding)
    if text is None:
        yield Reject(path, 0, "binary", "file is not text")
    elif kind == "jsonl":
        yield from read_jsonl(path, text.split("\n"))
    elif not text.strip():
        yield Reject(path, 0, "empty", "file has no text")
    else:
        yield _page(path, 0, kind, text)


def read(inputs: Iterable[str], cfg: IngestConfig | None = None) -> Iterator[Page | Reject]:
    """Pages and rejects from every input, in a deterministic order; every file yields at least one."""
    cfg = cfg or IngestConfig()
    for path, kind in expand(inputs):
        empty = True
        for item in read_file(path, kind, cfg):
            empty = False
            yield item
        if empty:  # e.g. a JSONL file of blank lines, a WARC without HTML responses
            yield Reject(path, 0, "empty", "no article records in the file")


def to_tables(items: Iterable[Page | Reject]) -> tuple[pa.Table, pa.Table]:
    """Split read results into a PAGE table and a REJECT table."""
    pages: list[Page] = []
    rejects = []
    for it in items:
        if isinstance(it, Reject):
            rejects.append({"path": it.path, "record": it.record, "stage": "ingest", "reason": it.reason, "page_id": None,
                            "detail": it.detail})
        else:
            pages.append(it)
    # Column by column: cheaper than a dict per page through from_pylist.
    cols = [[list(p.extras.items()) for p in pages] if f.name == "extras" else [getattr(p, f.name) for p in pages]
            for f in model.PAGE]
    return (
        pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, model.PAGE)], schema=model.PAGE),
        pa.Table.from_pylist(rejects, schema=model.REJECT),
    )

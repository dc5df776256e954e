"""The store folder: one Parquet table per stage, with manifests, queried through DuckDB.

Layout: ``OUT/<table>/part-*.parquet`` plus ``OUT/<table>/_manifest.json`` (config id, input
fingerprint, parts, row count, stats, version). Writes are atomic: parts are written under a
temporary name and renamed, then the manifest is swapped with ``os.replace``; a part that no
manifest names (left by an interrupted run) is ignored and swept. ``OUT/storyline.duckdb`` holds
views over the current parts so the store opens in any DuckDB client.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__
from .errors import StoreError

MANIFEST = "_manifest.json"
MARKER = "_storyline.json"
# Rows per Parquet row group: small enough that :meth:`Store.take` reads little beyond the rows asked for.
ROW_GROUP = 8192
# and at most this many bytes: a take reads a whole row group for one row, so wide rows (article
# texts, ~5 KB) get groups of ~200 rows; at 1M articles the texts that alignment and direction read
# fall from 9x the rows they use (1,000-row groups) to 3.5x.
ROW_GROUP_BYTES = 1 << 20
# Rows that Store.buckets holds, over all buckets, before writing them to their files.
SPILL_ROWS = 1 << 20
SPILL_BYTES = 256 << 20  # and at most this many bytes


KEY_CHUNK = 1 << 16  # keys turned into fixed-width bytes at a time: bounds that copy's scratch arrays


def fixed_width(keys: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
    """``keys`` (strings) as a NumPy fixed-width bytes array, each key's UTF-8 bytes followed by one
    0x01 byte: NumPy drops trailing NUL bytes, and the mark keeps a key ending in one distinct.
    About (longest key + 1) bytes a key, against a hundred and more for a Python ``str`` in a dict."""
    arr = pa.array(keys, pa.string()) if isinstance(keys, list) else keys
    arr = (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr).cast(pa.large_binary())
    arr = pc.fill_null(arr, b"")  # a null key matches the empty one (ids are never null)
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset:arr.offset + n + 1] if n else np.zeros(1, np.int64)
    data = np.frombuffer(arr.buffers()[2], np.uint8) if n and arr.buffers()[2] is not None else np.zeros(0, np.uint8)
    lens = np.diff(offsets)
    width = int(lens.max(initial=0)) + 1
    out = np.zeros((n, width), np.uint8)
    for lo in range(0, n, KEY_CHUNK):  # scratch of KEY_CHUNK x width indices, not n x width
        hi = min(n, lo + KEY_CHUNK)
        cols = np.arange(width - 1)
        inside = cols[None, :] < lens[lo:hi, None]
        rows, at = np.nonzero(inside)
        out[lo + rows, at] = data[offsets[lo:hi][rows] + at]
        out[np.arange(lo, hi), lens[lo:hi]] = 1
    return out.view(f"S{width}").ravel()


class KeyIndex:
    """string key -> int64 value, for a million keys in tens of MB: the keys sorted as fixed-width
    bytes (:func:`fixed_width`), looked up by binary search, a whole Arrow array at a time.

    A key given twice keeps its first value, as ``dict.setdefault`` would.

    Example:
        >>> KeyIndex(pa.array(["b", "a", "b"]), np.array([0, 1, 2])).get(pa.array(["b", "c"])).tolist()
        [0, -1]
    """

    def __init__(self, keys: pa.Array | pa.ChunkedArray | list[str], values: np.ndarray) -> None:
        raw = fixed_width(keys)
        self._keys, first = np.unique(raw, return_index=True)  # first occurrence of each key
        self._values = np.asarray(values, np.int64)[first]

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, keys: pa.Array | pa.ChunkedArray | list[str], default: int = -1) -> np.ndarray:
        """The value of each of ``keys``, ``default`` where absent."""
        raw = fixed_width(keys)
        if not len(self._keys) or not len(raw):
            return np.full(len(raw), default, np.int64)
        pos = np.minimum(np.searchsorted(self._keys, raw), len(self._keys) - 1)
        return np.where(self._keys[pos] == raw, self._values[pos], default)


class Store:
    """A store folder of stage tables.

    Example:
        >>> import tempfile
        >>> s = Store(tempfile.mkdtemp())
        >>> s.append("t", pa.table({"x": [1, 2]}), config_id="c")
        >>> s.read("t").num_rows
        2
    """

    def __init__(self, root: str | Path, create: bool = True) -> None:
        self.root = Path(root)
        marker = self.root / MARKER
        if not marker.exists():
            if not create:
                raise StoreError(f"{self.root} is not a storyline store; run `storyline run INPUT -o {self.root}`")
            if self.root.exists() and any(self.root.iterdir()):
                raise StoreError(
                    f"{self.root} exists and is not a storyline store; choose an empty or new folder for -o"
                )
            self.root.mkdir(parents=True, exist_ok=True)
            _write_json(marker, {"format": 1, "version": __version__})
        self._locations: dict[tuple[str, str], tuple[str, Any]] = {}  # (table, key) -> (fingerprint, index)

    def manifest(self, name: str) -> dict[str, Any] | None:
        """The manifest of table ``name``, or None if it was never written."""
        path = self.root / name / MANIFEST
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def parts(self, name: str) -> list[Path]:
        """The Parquet parts of ``name`` that its manifest names."""
        m = self.manifest(name)
        return [self.root / name / p for p in m["parts"]] if m else []

    def read(self, name: str, columns: list[str] | None = None, schema: pa.Schema | None = None,
             where: pc.Expression | None = None, _tries: int = 3) -> pa.Table:
        """Table ``name`` (empty with ``schema`` when absent), only the rows matching ``where`` if given."""
        parts = self.parts(name)
        if not parts:
            if schema is None:
                raise StoreError(f"table {name!r} is not in {self.root}; tables: {', '.join(self.tables())}")
            return schema.empty_table() if columns is None else schema.empty_table().select(columns)
        try:
            tables = [pq.read_table(p, columns=columns, filters=where) for p in parts]
        except FileNotFoundError as exc:  # a writer swapped generations twice while we read: read the new one
            if _tries <= 1:
                raise StoreError(f"table {name!r} names a part that is missing ({exc.filename}); "
                                 f"rerun `storyline run` on {self.root} to rebuild it") from exc
            return self.read(name, columns, schema, where, _tries - 1)
        return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]

    def take(self, name: str, ids: pa.Array | pa.ChunkedArray | list[str], columns: list[str],
             key: str = "article_id") -> pa.Table:
        """The rows of ``name`` whose ``key`` is in ``ids``, in the order of ``ids`` (unknown ids skipped).

        Reads only the row groups holding them, through an index of where each key is stored, so
        a bounded group of articles costs its own rows, not a scan of the table.
        """
        index, paths, groups = self._location_index(name, key)
        cols = columns if key in columns else [key, *columns]
        loc = index.get(ids)  # part << 32 | row
        loc = loc[loc >= 0]
        if not len(loc):  # only the schema: no part is read
            return pq.read_schema(paths[0]).empty_table().select(columns) if paths else self.read(name, columns)
        part_of, row_of = loc >> 32, loc & 0xFFFFFFFF
        pieces, order = [], []
        for p in np.unique(part_of).tolist():
            mine = np.flatnonzero(part_of == p)
            rows = row_of[mine]
            starts = groups[p]  # first row of each row group, then the part's row count
            g_of = np.searchsorted(starts, rows, side="right") - 1
            needed = np.unique(g_of)
            # rows of the groups read, concatenated: rebase each row on its group's place in that read
            base = np.zeros(starts.size, np.int64)
            base[needed] = np.concatenate([[0], np.cumsum(np.diff(starts)[needed])[:-1]])
            table = pq.ParquetFile(paths[p]).read_row_groups(needed.tolist(), columns=cols)
            pieces.append(table.take(pa.array(base[g_of] + rows - starts[g_of])))
            order.append(mine)
        out = pa.concat_tables(pieces, promote_options="default") if len(pieces) > 1 else pieces[0]
        back = np.empty(len(loc), np.int64)
        back[np.concatenate(order)] = np.arange(len(loc))
        return out.take(pa.array(back)).select(columns)

    def locations(self, name: str, ids: pa.Array | pa.ChunkedArray | list[str], key: str = "article_id") -> np.ndarray:
        """Where each of ``ids`` is stored, as one sortable number (-1 when absent): rows stored near
        each other have near numbers, so work ordered by it reads few row groups at a time."""
        return self._location_index(name, key)[0].get(ids)

    def _location_index(self, name: str, key: str) -> tuple[KeyIndex, list[Path], list[np.ndarray]]:
        """key -> (part << 32 | row), the parts, and per part the first row of each row group followed
        by its row count. Cached until the table's parts change."""
        token = self.fingerprint(name)
        cached = self._locations.get((name, key))
        if cached is not None and cached[0] == token:
            return cached[1]
        self._locations.pop((name, key), None)  # the stale index goes before the new one is built
        paths = self.parts(name)
        keys: list[pa.ChunkedArray] = []
        where: list[np.ndarray] = []
        groups: list[np.ndarray] = []
        for p, path in enumerate(paths):
            f = pq.ParquetFile(path)
            sizes = [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]
            groups.append(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
            keys.append(f.read(columns=[key])[key])
            where.append((p << 32) | np.arange(len(keys[-1]), dtype=np.int64))
        chunks = [c for k in keys for c in k.chunks]
        column = pa.chunked_array(chunks) if chunks else pa.chunked_array([], pa.string())
        index = KeyIndex(column, np.concatenate(where) if where else np.zeros(0, np.int64))
        value = (index, paths, groups)
        self._locations[(name, key)] = (token, value)
        return value

    def buckets(self, name: str, column: str, n: int, columns: list[str] | None = None,
                schema: pa.Schema | None = None) -> Iterator[pa.Table]:
        """Table ``name`` cut into ``n`` buckets by ``column`` (integers, hash-like) modulo ``n``, one at a time.

        Every row of a value lands in the same bucket, and a bucket keeps the stored order of its
        rows. With ``n`` > 1 the table is read once, batch by batch, into one temporary Arrow file
        per bucket under the store, so memory holds a batch or a bucket, never the whole table.
        Nothing is yielded for a table that was never written (unless ``schema`` gives an empty one).
        """
        parts = self.parts(name)
        if n <= 1 or not parts:
            if parts or schema is not None:
                yield self.read(name, columns, schema)
            return
        yield from self._spilled(_part_batches(parts, columns), column, n, lambda values: values.to_numpy() % n,
                                 _empty(parts[0], columns))

    def partition(self, name: str, column: str, keys: pa.Array | KeyIndex, bucket: np.ndarray | None, n: int,
                  schema: pa.Schema, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The rows of ``name`` whose ``column`` is one of ``keys``, in ``n`` buckets: rows of
        ``keys[i]`` go to bucket ``bucket[i]``. Yields the buckets in order, each in stored order;
        rows of other values are dropped. ``keys`` may be a :class:`KeyIndex` of key -> bucket
        (``bucket`` unused): several partitions by the same keys share one.

        As :meth:`buckets`, one read of the table for all of them: a corpus-wide stage that works
        one group of articles at a time reads each group's rows without a scan per group.
        """
        # One lookup for every batch (Arrow's index_in would hash all the keys again per batch), as
        # sorted bytes, not a dict: a million keys cost tens of MB, not hundreds.
        if isinstance(keys, KeyIndex):
            lookup = keys
        else:  # a key given twice goes to its last bucket, as a dict built from the pairs would say
            keys = pa.array(keys, pa.string()) if isinstance(keys, list) else keys
            back = pa.array(np.arange(len(keys) - 1, -1, -1, dtype=np.int64))
            lookup = KeyIndex(keys.take(back), np.asarray(bucket, np.int64)[::-1])
        parts = self.parts(name)
        if n <= 1 or not parts:
            for _ in range(n):
                table = self.read(name, None, schema)
                table = table.filter(pa.array(lookup.get(table[column]) >= 0))
                yield table if columns is None else table.select(columns)
            return
        yield from self._spilled(_part_batches(parts, columns), column, n, lookup.get, _empty(parts[0], columns))

    def spill(self, tables: Iterable[pa.Table], column: str, n: int, bucket_of: Callable[[pa.Array], np.ndarray],
              schema: pa.Schema) -> Iterator[pa.Table]:
        """The rows of ``tables`` (rows a stage makes, drawn one table at a time) in ``n`` buckets by
        ``bucket_of(column)``, each in arrival order, as :meth:`buckets` cuts a stored table: they go
        to temporary files as they come, so memory holds a table and the write buffers, never every bucket."""
        yield from self._spilled((b for t in tables for b in t.to_batches()), column, n, bucket_of, schema.empty_table())

    def _spilled(self, batches: Iterable[pa.RecordBatch], column: str, n: int,
                 bucket_of: Callable[[pa.Array], np.ndarray], empty: pa.Table) -> Iterator[pa.Table]:
        for stale in self.root.glob(".buckets-*"):  # left by a run that was killed while it read buckets
            if not _alive(stale.name.split("-")[1]):
                shutil.rmtree(stale, ignore_errors=True)
        # Named by process: several partitions of one run are read side by side.
        tmp = self.root / f".buckets-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        try:
            _spill(batches, tmp, column, n, bucket_of)
            for b in range(n):
                path = tmp / f"{b}.arrow"
                if not path.exists():
                    yield empty
                    continue
                with pa.ipc.open_file(path) as f:
                    held = [f.read_all()]
                path.unlink()
                # Popped as it is yielded: a local would keep the bucket alive while this frame
                # waits, after the caller has let it go (a slice of terms, 225 MB at 1M articles).
                yield held.pop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def read_part(self, name: str, part: str, columns: list[str] | None = None) -> pa.Table:
        """One named part of table ``name``."""
        return pq.read_table(self.root / name / part, columns=columns)

    def tables(self) -> list[str]:
        """Names of the tables with a manifest."""
        return sorted(p.parent.name for p in self.root.glob(f"*/{MANIFEST}"))

    def write_part(self, name: str, table: pa.Table) -> str:
        """Write ``table`` as a new part of ``name`` that no reader sees until :meth:`commit_parts`."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        part = f"part-{uuid.uuid4().hex[:12]}.parquet"
        tmp = folder / f".{part}.tmp"
        pq.write_table(table, tmp, row_group_size=_row_group_rows(table))
        os.replace(tmp, folder / part)
        return part

    def _commit(self, name: str, parts: list[str], meta: dict[str, Any]) -> None:
        m = self.manifest(name) or {}
        previous = m.get("parts", [])
        # Row counts of parts already committed come from the manifest (names are unique): reading
        # every part's footer again made each append cost O(parts), a run of appends quadratic.
        known = dict(zip(previous, m.get("part_rows", []))) if len(m.get("part_rows", [])) == len(previous) else {}
        counts = [known[p] if p in known else pq.ParquetFile(self.root / name / p).metadata.num_rows for p in parts]
        manifest = {"version": __version__, "parts": parts, "part_rows": counts, "previous_parts": previous,
                    "rows": sum(counts), **meta}
        _write_json(self.root / name / MANIFEST, manifest)
        # The previous generation stays on disk so a reader that has just read the old manifest
        # can still open its parts; anything older (or orphaned by a killed run) goes.
        self._sweep(name, set(parts) | set(previous))

    def _sweep(self, name: str, keep: set[str]) -> None:
        for p in (self.root / name).glob("*part-*"):
            if p.name not in keep:
                p.unlink(missing_ok=True)

    def append(self, name: str, table: pa.Table, config_id: str, **meta: Any) -> None:
        """Add ``table`` as a new part of ``name`` (same config id as the parts already there)."""
        m = self.manifest(name)
        old = m["parts"] if m and m.get("config_id") == config_id else []
        stats = _merge_stats((m or {}).get("stats", {}) if old else {}, meta.pop("stats", {}))
        parts = old + ([self.write_part(name, table)] if table.num_rows or not old else [])
        self._commit(name, parts, {"config_id": config_id, "stats": stats, **meta})

    def replace(self, name: str, table: pa.Table, config_id: str, **meta: Any) -> None:
        """Make ``table`` the whole content of ``name``."""
        self.replace_parts(name, [table], config_id, table.schema, **meta)

    def replace_parts(self, name: str, tables: Iterable[pa.Table], config_id: str, schema: pa.Schema,
                      **meta: Any) -> None:
        """Make the tables of ``tables`` (written one by one as they come) the whole content of ``name``.

        Readers see the old content until the last part is written: one commit at the end. With no
        rows at all the table is an empty one of ``schema``.
        """
        self.commit_parts(name, [self.write_part(name, t) for t in tables if t.num_rows], config_id, schema, **meta)

    def commit_parts(self, name: str, parts: list[str], config_id: str, schema: pa.Schema, **meta: Any) -> None:
        """Make the parts ``parts`` (from :meth:`write_part`) the whole content of ``name`` (an empty
        table of ``schema`` when there are none): two tables filled side by side commit one by one."""
        if not parts:
            parts = [self.write_part(name, schema.empty_table())]
        self._commit(name, parts, {"config_id": config_id, **meta})

    def is_current(self, name: str, config_id: str, inputs: str) -> bool:
        """Whether ``name`` was last written with this config and these inputs (a rerun can skip it)."""
        m = self.manifest(name)
        return bool(m) and m.get("config_id") == config_id and m.get("inputs") == inputs

    def fingerprint(self, *names: str) -> str:
        """A token that changes whenever any of the tables ``names`` changes."""
        return "|".join(f"{n}:{','.join((self.manifest(n) or {}).get('parts', []))}" for n in names)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per table."""
        con = duckdb.connect()
        for name in self.tables():
            files = [str(p) for p in self.parts(name)]
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({files!r}, union_by_name=true)')
        return con

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Rows of ``sql`` run over the store's tables, as dicts."""
        con = self.connect()
        try:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]
        finally:
            con.close()

    def write_duckdb(self) -> Path:
        """Write ``storyline.duckdb``: views over the current parts, for any DuckDB client."""
        path = self.root / "storyline.duckdb"
        tmp = self.root / ".storyline.duckdb.tmp"
        tmp.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        try:
            for name in self.tables():
                files = [str(p.resolve()) for p in self.parts(name)]
                con.execute(
                    f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet({files!r}, union_by_name=true)'
                )
        finally:
            con.close()
        os.replace(tmp, path)
        return path


def _part_batches(parts: list[Path], columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    """The rows of ``parts`` in stored order, in batches of about SPILL_BYTES / 4 however wide the
    rows: :func:`_spill` copies one into pieces at a time."""
    for path in parts:
        f = pq.ParquetFile(path)
        meta = f.metadata
        width = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)) / max(1, meta.num_rows)
        rows = int(min(ROW_GROUP * 8, max(1024, SPILL_BYTES // 4 / max(width, 1.0))))
        yield from f.iter_batches(batch_size=rows, columns=columns)


def _spill(batches: Iterable[pa.RecordBatch], folder: Path, column: str, n: int,
           bucket_of: Callable[[pa.Array], np.ndarray]) -> None:
    """Write the rows of ``batches`` to ``folder/<bucket>.arrow``, in order; ``bucket_of`` maps a
    batch's ``column`` to each row's bucket (-1: no bucket, the row is dropped)."""
    # Arrow IPC with LZ4: a quarter of Parquet's time to write and read back, for files read only once.
    options = pa.ipc.IpcWriteOptions(compression="lz4" if pa.Codec.is_available("lz4") else None)
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    pending: dict[int, list[pa.RecordBatch]] = {}
    held: dict[int, int] = {}
    held_bytes: dict[int, int] = {}
    # Rows a bucket holds before they are written: bounds the whole buffer, in batches of useful size.
    flush = max(ROW_GROUP, SPILL_ROWS // n)

    def write(b: int) -> None:
        table = pa.Table.from_batches(pending.pop(b)).combine_chunks()
        held[b] = held_bytes[b] = 0
        if b not in writers:
            writers[b] = pa.ipc.new_file(folder / f"{b}.arrow", table.schema, options=options)
        writers[b].write_table(table)

    try:
        for batch in batches:
            bucket = bucket_of(batch.column(column)).astype(np.int64)
            order = np.argsort(bucket, kind="stable")
            bounds = np.searchsorted(bucket[order], np.arange(n + 1))
            for b in np.flatnonzero(np.diff(bounds)).tolist():
                # A copy per bucket, not a slice of one sorted batch: a slice would keep that
                # whole batch alive while any bucket holds a piece of it, far past the budget.
                piece = batch.take(pa.array(order[bounds[b]:bounds[b + 1]]))
                pending.setdefault(b, []).append(piece)
                held[b] = held.get(b, 0) + piece.num_rows
                held_bytes[b] = held_bytes.get(b, 0) + piece.nbytes
                if held[b] >= flush:
                    write(b)
            # Wide rows (article texts) fill memory long before a bucket's row count: then the
            # fullest buckets are written until the buffer is back under its byte budget.
            while sum(held_bytes.values()) > SPILL_BYTES:
                write(max(pending, key=held_bytes.__getitem__))
        for b in list(pending):
            write(b)
    finally:
        for w in writers.values():
            w.close()


def _row_group_rows(table: pa.Table) -> int:
    """Rows per row group for ``table``: :data:`ROW_GROUP`, fewer for rows wider than
    :data:`ROW_GROUP_BYTES` / ROW_GROUP bytes (at least one row)."""
    width = table.nbytes / max(1, table.num_rows)
    return max(1, min(ROW_GROUP, int(ROW_GROUP_BYTES // max(width, 1.0))))


def _alive(pid: str) -> bool:
    """Whether process ``pid`` (a decimal string) is running; False for anything else."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _empty(part: Path, columns: list[str] | None) -> pa.Table:
    table = pq.read_schema(part).empty_table()
    return table if columns is None else table.select(columns)


def _merge_stats(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)

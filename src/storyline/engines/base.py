"""The engine protocol: how a step's batches are scheduled, never what they compute."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import POOL_ENV  # read by Arrow's C++ once, when pyarrow loads: set in storyline/__init__


class Engine(Protocol):
    """``map`` one batch at a time, ``group`` by a key column, ``gather`` all rows on one worker,
    ``gather_each`` independent groups of rows, each on one worker."""

    parallel: bool  # steps run outside the calling thread: independent stages may run side by side

    def map(self, step: Any, table: pa.Table) -> pa.Table: ...

    def group(self, step: Any, table: pa.Table) -> pa.Table: ...

    def gather(self, step: Any, *tables: pa.Table) -> pa.Table: ...

    def gather_each(self, step: Any, inputs: Iterable[tuple[pa.Table, ...]]) -> Iterator[pa.Table]: ...


def compact(table: pa.Table) -> pa.Table:
    """A copy of just these rows: a slice pickles with its parent's whole buffers."""
    return table.take(pa.array(np.arange(table.num_rows)))


def use_jemalloc() -> None:
    """Give Arrow's buffers from jemalloc in this process, freed pages back within a second (both
    engines call it in their driver, the local engine in each worker too), unless
    ``ARROW_DEFAULT_MEMORY_POOL`` names another pool.

    Arrow's default mimalloc keeps the pages of freed tables (and its per-thread heaps, of Acero
    and Parquet reads, are never collected): at 100k articles the driver held 0.73 GB after the
    corpus stages with it, 0.43 GB with jemalloc named before pyarrow loaded.
    Importing storyline names jemalloc in the environment before pyarrow loads, so that Arrow's C++
    internals use it too; ``pa.set_memory_pool`` here reaches only pyarrow's own calls, for a process
    that loaded pyarrow first.
    """
    if (os.environ.get(POOL_ENV) or "jemalloc") != "jemalloc":  # empty names none, as for Arrow
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without it
        return
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)
    os.environ[POOL_ENV] = "jemalloc"  # for the worker processes started from here on
    # Freed pages go back after a second (release_memory purges at once between stages). A decay
    # of 0 returned each page as it was freed: 10% slower at 100k (a madvise per free), same peak.
    pa.jemalloc_set_decay_ms(1000)


def release_memory() -> None:
    """Hand Arrow's freed buffers back to the OS. Its allocator keeps them for reuse, so a
    process's RSS would stay at its largest table's size while it goes on to build Python objects
    (or, in a worker, while it waits), and the two peaks would add up."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None elsewhere (musl, macOS). NumPy arrays and Python objects
    come from glibc's malloc, whose arenas keep freed memory (and, once a large block is freed,
    serve blocks up to 32 MB from the heap rather than mmap), so without a trim the driver's RSS
    stays near its largest stage's long after the stage returns."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def concat(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """The non-empty ``parts`` as one table of ``schema`` (empty with it when there are none)."""
    parts = [p for p in parts if p.num_rows]
    return pa.concat_tables(parts).cast(schema) if parts else schema.empty_table()


def key_ranges(table: pa.Table, key: str, min_rows: int, first: str | None = None) -> list[pa.Table]:
    """``table`` sorted (stably) by ``key``, cut where the key changes into runs of ``min_rows`` or more.

    With ``min_rows`` = 16 x batch_rows these are the local engine's ``group`` batches. With
    ``first``, rows are sorted by that column before ``key`` (it must be constant within a key).

    Example:
        >>> t = pa.table({"k": ["b", "a", "b", "c"]})
        >>> [b["k"].to_pylist() for b in key_ranges(t, "k", 2)]
        [['a', 'b', 'b'], ['c']]
    """
    by = [(first, "ascending")] if first else []
    table = table.take(pc.sort_indices(table, [*by, (key, "ascending")]))
    keys = table[key].to_numpy(zero_copy_only=False)
    # Rows where a new key starts; a block ends at the first such row ``min_rows`` past its start.
    starts = np.append(np.flatnonzero(keys[1:] != keys[:-1]) + 1, len(keys))
    blocks, start = [], 0
    while start < len(keys):
        end = int(starts[np.searchsorted(starts, start + min_rows)]) if start + min_rows < len(keys) else len(keys)
        blocks.append(table.slice(start, end - start))
        start = end
    return blocks

"""The local engine: a loop over batches, optionally across a process pool."""

from __future__ import annotations

import functools
import multiprocessing
import os
import select
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..steps.base import check_reads, params
from .base import compact, concat, key_ranges, release_memory, use_jemalloc


# A table of a pool call this big goes to its worker as an Arrow file, not a pickle: the driver
# then holds neither the pickled copies (several times the table, one kept by the queue's feeder
# thread until the next call) nor the table itself while the call runs.
SHIP_BYTES = 4 << 20


@dataclass(frozen=True)
class _Shipped:
    """A table written to ``path`` (Arrow IPC) for a worker, which maps it and removes the file."""

    path: str

    def load(self) -> pa.Table:
        table = pa.ipc.open_file(pa.memory_map(self.path)).read_all()
        os.unlink(self.path)  # the mapping stays readable; the disk space goes with it
        return table


def _ship(table: pa.Table, folder: str) -> _Shipped:
    path = os.path.join(folder, f"{uuid.uuid4().hex}.arrow")
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)  # only a slice's own rows are written
    return _Shipped(path)


def _run(step_type: type, step_params: dict[str, Any], *tables: pa.Table | _Shipped) -> pa.Table:
    # Workers rebuild the step from its params, exactly as a Ray actor does.
    tables = tuple(t.load() if isinstance(t, _Shipped) else t for t in tables)
    out = step_type(**step_params)(*tables)
    del tables
    release_memory()
    return out


def _exit_with_driver(driver: int) -> None:
    """Worker initializer: exit once ``driver``, the process that started the pool, is gone.

    A driver killed with SIGKILL cannot stop its pool; without this its idle workers would wait
    for tasks forever. The driver itself is watched, not the worker's parent: under forkserver the
    parent is the fork server, which exits only once every holder of its "alive" pipe has, and the
    workers hold it, so each would wait for the other.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(driver)  # readable once the driver exits (a zombie counts as gone)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        else:
            while True:
                try:
                    os.kill(driver, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    pass
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _start_worker(driver: int) -> None:
    """Worker initializer: the driver's allocator (:func:`~storyline.engines.base.use_jemalloc`),
    and an exit once the driver is gone (:func:`_exit_with_driver`)."""
    use_jemalloc()
    _exit_with_driver(driver)


def _start_method() -> str:
    # Workers start from a fresh interpreter, not as a fork of the driver: a fork would carry (and
    # count twice) whatever big tables the driver holds when the pool starts.
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


@dataclass
class LocalEngine:
    """Runs steps in this process (``workers=1``) or a process pool; results keep input order.

    The pool starts at the first call that needs it and serves the calls that follow (its workers
    keep what steps load lazily); after ``idle_s`` seconds without work it stops, so the stages that
    run in this process alone (clustering, comparison, documents) do not hold its workers' memory,
    and the next call starts a new one. :meth:`shutdown` stops it at once. Workers start from a
    fresh interpreter, as with ``spawn``: a script that runs with ``workers`` > 1 needs the usual
    ``if __name__ == "__main__":`` guard, and its steps must be importable classes (as for Ray).
    """

    workers: int = 1
    batch_rows: int = 256
    idle_s: float = 10.0
    _pool: ProcessPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _busy: int = field(default=0, init=False, repr=False, compare=False)
    _timer: threading.Timer | None = field(default=None, init=False, repr=False, compare=False)
    _spool: str | None = field(default=None, init=False, repr=False, compare=False)  # shipped tables' folder

    def __post_init__(self) -> None:
        use_jemalloc()  # this process runs steps and holds the stages' tables: see use_jemalloc

    def _batches(self, step: Any, batches: list[pa.Table]) -> pa.Table:
        if self.workers > 1 and len(batches) > 1:
            parts = self._pooled(step, batches)
        else:
            parts = [step(b) for b in batches]
        return concat(parts, step.output_schema)

    def _pooled(self, step: Any, batches: list[pa.Table]) -> list[pa.Table]:
        """The step's output for each batch, computed by the pool."""
        # A few batches per worker in flight: only those are copied (compact) and pickled at a time.
        return list(self._in_pool(step, ((compact(b),) for b in batches), 2 * self.workers))

    def _in_pool(self, step: Any, inputs: Iterable[tuple[pa.Table, ...]], window: int) -> Iterator[pa.Table]:
        """The step's output for each tuple of ``inputs``, computed by the pool, in order, with at
        most ``window`` of them in flight (only those are pickled, and drawn from ``inputs``, at a time)."""
        with self._lock:
            self._busy += 1
            if self._timer is not None:  # a stop already scheduled is called off (or finds it gone)
                self._timer.cancel()
                self._timer = None
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, initializer=_start_worker, initargs=(os.getpid(),),
                                                 mp_context=multiprocessing.get_context(_start_method()))
                self._spool = tempfile.mkdtemp(prefix="storyline-ship-")
            pool, spool = self._pool, self._spool
        flight: deque[Future] = deque()
        try:
            for tables in inputs:
                sent = [_ship(t, spool) if isinstance(t, pa.Table) and t.nbytes > SHIP_BYTES else t for t in tables]
                del tables  # the call holds its files, not the tables
                flight.append(pool.submit(_run, type(step), params(step), *sent))
                del sent
                if len(flight) >= window:
                    yield flight.popleft().result()
            while flight:
                yield flight.popleft().result()
        except BrokenProcessPool:
            with self._lock:  # a worker died (killed, out of memory): the next call starts a new pool
                if self._pool is pool:
                    self._pool, self._spool = None, None
                    _remove(spool)
            raise
        finally:
            for f in flight:
                f.cancel()
            self._done()

    def _done(self) -> None:
        """End a call; the last one running schedules the pool's stop ``idle_s`` from now."""
        with self._lock:
            self._busy -= 1
            if self._busy or self._pool is None:
                return
            timer = self._timer = threading.Timer(self.idle_s, self._stop_if_idle)
        timer.daemon = True
        timer.start()

    def _stop_if_idle(self) -> None:
        with self._lock:
            if self._busy or self._timer is not threading.current_thread():
                return  # a call came (and maybe went) since this stop was scheduled
            pool, self._pool, self._timer = self._pool, None, None
            spool, self._spool = self._spool, None
        if pool is not None:
            pool.shutdown(wait=False)
        _remove(spool)

    @property
    def parallel(self) -> bool:
        """Whether steps run in worker processes, so the pipeline may run independent stages side by side."""
        return self.workers > 1

    def map(self, step: Any, table: pa.Table) -> pa.Table:
        """Apply a map step batch by batch."""
        check_reads(step, table)
        n = self.batch_rows
        return self._batches(step, [table.slice(i, n) for i in range(0, table.num_rows, n)])

    def group(self, step: Any, table: pa.Table) -> pa.Table:
        """Apply a group step to batches that each hold whole groups of ``step.key``."""
        check_reads(step, table)
        if table.num_rows == 0:
            return step.output_schema.empty_table()
        return self._batches(step, key_ranges(table, step.key, self.batch_rows * 16))

    def gather(self, step: Any, *tables: pa.Table) -> pa.Table:
        """Apply a gather step to whole tables on this worker."""
        check_reads(step, tables[0])
        return step(*tables)

    def gather_each(self, step: Any, inputs: Iterable[tuple[pa.Table, ...]]) -> Iterator[pa.Table]:
        """Apply a gather step to each tuple of tables of ``inputs`` (independent groups), results in
        order; with workers, one group per worker at a time and one queued, while the next ones are read."""
        def check(tables: tuple[pa.Table, ...]) -> tuple[pa.Table, ...]:
            check_reads(step, tables[0])
            return tables

        # map, not a generator: a generator's frame would keep the last group alive after it is sent
        checked = functools.partial(map, check, inputs)
        if self.workers <= 1:
            for tables in checked():
                yield step(*tables)
            return
        # One group more than workers in flight: a worker that finishes out of order finds the next
        # queued instead of idling while this thread waits for the first (results come in order).
        yield from self._in_pool(step, checked(), self.workers + 1)

    def shutdown(self) -> None:
        """Stop the worker pool, if one was started; a later call starts a new one."""
        with self._lock:
            pool, self._pool, self._timer = self._pool, None, None
            spool, self._spool = self._spool, None
        if pool is not None:
            pool.shutdown()
        _remove(spool)


def _remove(spool: str | None) -> None:
    """Drop the shipped tables' folder: files of calls cancelled before a worker read them."""
    if spool is not None:
        shutil.rmtree(spool, ignore_errors=True)

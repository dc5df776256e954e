"""The Ray engine: the local engine's very step classes, run as Ray Data stages.

``map`` runs a step as ``map_batches(StepClass, fn_constructor_kwargs=params(step))`` on an actor
pool sized to the cluster (or, for inputs of a few batches per CPU, as one Ray task per batch that
rebuilds the step from the same class and kwargs). ``group`` sorts by the key and cuts the table
into key ranges that never split a group (partitioning by key, so no worker sees the whole table)
and runs those blocks the same way. ``gather`` runs the step as one Ray task, ``gather_each`` one
task per independent group. Order is kept, so
every output equals the local engine's row for row and the store is identical whichever engine
wrote it.

Ray starts lazily, on the first call that needs it: importing this module or building the engine
starts nothing. ``address=None`` starts a private local Ray; ``"auto"`` joins the cluster that
``ray start`` runs on this host; ``"ray://host:10001"`` connects a Ray client.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..errors import ConfigError
from ..steps.base import check_reads, params
from .base import POOL_ENV, compact, concat, key_ranges, use_jemalloc

COMPUTE = ("auto", "actors", "tasks")
# Batches per CPU above which ``auto`` maps on a Ray Data actor pool. Starting a pool costs
# seconds; below this, tasks on Ray's reused workers finish first. At 8, alignment and direction
# (32 batches a pair group) started a pool per group: 48 s against the local engine's 15 s at 30k.
ACTOR_BATCHES = 64
INSTALL_HINT = "the ray engine needs Ray; install with pip install -e .[ray]"


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (the extra is ray[data])
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return ray


def _gather(step_type: type, step_params: dict[str, Any], *tables: pa.Table) -> pa.Table:
    # The worker rebuilds the step from its params, as the map actors do.
    return step_type(**step_params)(*tables)


def _apply(batch: pa.Table, step_type: type, step_params: dict[str, Any]) -> pa.Table:
    return step_type(**step_params)(batch)


@dataclass
class RayEngine:
    """Runs steps as Ray Data stages on a local Ray or a cluster; outputs equal the local engine's.

    Args:
        address: None (start a private local Ray), ``"auto"`` (join ``ray start`` on this host) or
            ``"ray://host:port"`` (Ray client).
        num_cpus: CPUs of the private local Ray (None: all); ignored when joining a cluster.
        batch_rows: rows per map batch, as in the local engine.
        compute: ``actors`` (Ray Data, a pool of one actor per cluster CPU, each holding one step for
            many batches), ``tasks`` (one Ray task per batch on Ray's reused worker processes) or
            ``auto`` (actors when there are more than ACTOR_BATCHES batches per CPU, so a pool's start-up pays off).

    Example:
        >>> engine = RayEngine(num_cpus=2)   # starts nothing yet
        >>> engine.batch_rows
        256
    """

    address: str | None = None
    num_cpus: int | None = None
    batch_rows: int = 256
    compute: str = "auto"
    _started: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.address is not None and self.address != "auto" and not self.address.startswith("ray://") \
                and ":" not in self.address:
            raise ConfigError(f"ray address {self.address!r}: use auto, host:port or ray://host:port")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError(f"num_cpus must be at least 1, got {self.num_cpus}")
        if self.compute not in COMPUTE:
            raise ConfigError(f"compute {self.compute!r}: allowed {', '.join(COMPUTE)}")
        if self.batch_rows < 1:
            raise ConfigError(f"batch_rows must be at least 1, got {self.batch_rows}")
        use_jemalloc()  # the driver holds the stages' tables, as the local engine's does

    def _start(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            local = self.address is None
            # A private Ray's workers inherit this process's environment; a cluster's were started
            # by `ray start`, so the job hands them Arrow's pool (see use_jemalloc).
            pool = os.environ.get(POOL_ENV)
            ray.init(
                runtime_env={"env_vars": {POOL_ENV: pool}} if pool and not local else None,
                # "local" always starts a private Ray, never joins one that another process started.
                address="local" if local else self.address,
                include_dashboard=False,
                num_cpus=self.num_cpus if local else None,
                log_to_driver=False,
                ignore_reinit_error=True,
            )
        if not self._started:
            ctx = ray.data.DataContext.get_current()
            # Blocks come back in input order, so outputs equal the local engine's row for row.
            ctx.execution_options.preserve_order = True
            ctx.enable_progress_bars = False
            ctx.print_on_execution_start = False
            # One INFO line per stage is noise in a CLI run; storyline logs its own progress.
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            self._started = True
        return ray

    @property
    def parallel(self) -> bool:
        """Steps run in Ray workers, never in the calling thread."""
        return True

    def cpus(self) -> int:
        """CPUs of the cluster (starts Ray if needed): the size of every actor pool."""
        ray = self._start()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def _run_blocks(self, step: Any, blocks: list[pa.Table], batch_size: int | None) -> pa.Table:
        ray = self._start()
        n_batches = sum(-(-b.num_rows // batch_size) if batch_size else 1 for b in blocks)
        # One actor per cluster CPU (never more than there are batches): more actors than CPUs
        # leaves a pool waiting for CPUs that never free, which hung a 2-CPU local Ray.
        pool = max(1, min(self.cpus(), n_batches))
        if self.compute == "actors" or (self.compute == "auto" and n_batches > ACTOR_BATCHES * pool):
            # Ray Data: an actor per CPU keeps one step (and whatever it loads lazily) for many batches.
            ds = ray.data.from_arrow([compact(b) for b in blocks]).map_batches(
                type(step), fn_constructor_kwargs=params(step), batch_size=batch_size, batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=1,
            )
            return concat(ray.get(ds.to_arrow_refs()), step.output_schema)
        # Few batches (a per-article part, a small table): one Ray task per batch on Ray's reused
        # worker processes. Planning a Ray Data job costs ~0.5 s, more than such a stage computes.
        batches = [b.slice(i, batch_size) for b in blocks for i in range(0, b.num_rows, batch_size)] \
            if batch_size else blocks
        task = ray.remote(num_cpus=1)(_apply)
        refs = [task.remote(compact(b), type(step), params(step)) for b in batches]
        return concat(ray.get(refs), step.output_schema)

    def map(self, step: Any, table: pa.Table) -> pa.Table:
        """Apply a map step batch by batch (``batch_rows`` rows, the local engine's batches)."""
        check_reads(step, table)
        if table.num_rows == 0:
            return step.output_schema.empty_table()
        n = self.batch_rows
        # Blocks of whole batches: batch boundaries are the local engine's.
        per_block = n * max(1, -(-table.num_rows // (n * self.cpus() * 4)))
        blocks = [table.slice(i, per_block) for i in range(0, table.num_rows, per_block)]
        return self._run_blocks(step, blocks, n)

    def group(self, step: Any, table: pa.Table) -> pa.Table:
        """Apply a group step to blocks that each hold whole groups of ``step.key`` (key ranges)."""
        check_reads(step, table)
        if table.num_rows == 0:
            return step.output_schema.empty_table()
        # At least the local engine's batch (16 x batch_rows), and few enough blocks that scheduling
        # stays cheap on big tables (a few blocks per CPU), but never so big that one block's
        # Python rows crowd memory.
        n = self.batch_rows
        min_rows = max(n * 16, min(table.num_rows // (self.cpus() * 4), n * 1024))
        return self._run_blocks(step, key_ranges(table, step.key, min_rows), None)

    def gather(self, step: Any, *tables: pa.Table) -> pa.Table:
        """Apply a gather step to whole tables in one Ray task."""
        check_reads(step, tables[0])
        ray = self._start()
        task = ray.remote(num_cpus=1)(_gather)
        return ray.get(task.remote(type(step), params(step), *tables))

    def gather_each(self, step: Any, inputs: Iterable[tuple[pa.Table, ...]]) -> Iterator[pa.Table]:
        """Apply a gather step to each tuple of tables of ``inputs`` (independent groups), one Ray
        task each, results in order; one task per cluster CPU in flight while the next are read."""
        ray = self._start()
        task = ray.remote(num_cpus=1)(_gather)
        flight: deque[Any] = deque()
        for tables in inputs:
            check_reads(step, tables[0])
            flight.append(task.remote(type(step), params(step), *tables))
            if len(flight) >= self.cpus():
                yield ray.get(flight.popleft())
        while flight:
            yield ray.get(flight.popleft())

    def shutdown(self) -> None:
        """Stop the private local Ray (or disconnect from the cluster)."""
        if self._started:
            _ray().shutdown()
            self._started = False

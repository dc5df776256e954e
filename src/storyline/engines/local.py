"""The local engine: a loop over batches, optionally across a process pool."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..steps.base import check_reads, params
from .base import compact, concat, key_ranges


def _run(step_type: type, step_params: dict[str, Any], batch: pa.Table) -> pa.Table:
    # Workers rebuild the step from its params, exactly as a Ray actor does.
    return step_type(**step_params)(batch)


@dataclass
class LocalEngine:
    """Runs steps in this process (``workers=1``) or a process pool; results keep input order."""

    workers: int = 1
    batch_rows: int = 256

    def _batches(self, step: Any, batches: list[pa.Table]) -> pa.Table:
        if self.workers > 1 and len(batches) > 1:
            with ProcessPoolExecutor(self.workers) as pool:
                futures = [pool.submit(_run, type(step), params(step), compact(b)) for b in batches]
                parts = [f.result() for f in futures]
        else:
            parts = [step(b) for b in batches]
        return concat(parts, step.output_schema)

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

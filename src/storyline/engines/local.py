"""The local engine: a loop over batches, optionally across a process pool."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..steps.base import check_reads, params


def _run(step_type: type, step_params: dict[str, Any], batch: pa.Table) -> pa.Table:
    # Workers rebuild the step from its params, exactly as a Ray actor does.
    return step_type(**step_params)(batch)


def _compact(t: pa.Table) -> pa.Table:
    """A copy of just these rows: a slice pickles with its parent's whole buffers."""
    return t.take(pa.array(np.arange(t.num_rows)))


def _concat(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
    parts = [p for p in parts if p.num_rows]
    return pa.concat_tables(parts).cast(schema) if parts else schema.empty_table()


@dataclass
class LocalEngine:
    """Runs steps in this process (``workers=1``) or a process pool; results keep input order."""

    workers: int = 1
    batch_rows: int = 256

    def _batches(self, step: Any, batches: list[pa.Table]) -> pa.Table:
        if self.workers > 1 and len(batches) > 1:
            with ProcessPoolExecutor(self.workers) as pool:
                futures = [pool.submit(_run, type(step), params(step), _compact(b)) for b in batches]
                parts = [f.result() for f in futures]
        else:
            parts = [step(b) for b in batches]
        return _concat(parts, step.output_schema)

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
        table = table.take(pc.sort_indices(table, [(step.key, "ascending")]))
        keys = table[step.key].to_numpy(zero_copy_only=False)
        batches, start = [], 0
        # Cut batches only where the key changes so no group is split.
        for i in range(1, len(keys) + 1):
            if i == len(keys) or (i - start >= self.batch_rows * 16 and keys[i] != keys[i - 1]):
                batches.append(table.slice(start, i - start))
                start = i
        return self._batches(step, batches)

    def gather(self, step: Any, *tables: pa.Table) -> pa.Table:
        """Apply a gather step to whole tables on this worker."""
        check_reads(step, tables[0])
        return step(*tables)

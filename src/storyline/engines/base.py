"""The engine protocol: how a step's batches are scheduled, never what they compute."""

from __future__ import annotations

from typing import Any, Protocol

import pyarrow as pa


class Engine(Protocol):
    """``map`` one batch at a time, ``group`` by a key column, ``gather`` all rows on one worker."""

    def map(self, step: Any, table: pa.Table) -> pa.Table: ...

    def group(self, step: Any, table: pa.Table) -> pa.Table: ...

    def gather(self, step: Any, *tables: pa.Table) -> pa.Table: ...

"""The Python API over a store: what the CLI and the web UI read."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from . import export
from .pipeline import Report
from .store import Store


class Results:
    """A store folder opened for reading.

    Example:
        >>> r = storyline.open("storyline-out")  # doctest: +SKIP
        >>> [s["title"] for s in r.stories()]    # doctest: +SKIP
    """

    def __init__(self, store: Store, report: Report | None = None) -> None:
        self.store = store
        self.report = report

    def stories(self) -> list[dict[str, Any]]:
        """Every story document (the ``export --table stories`` JSONL objects)."""
        return export.stories(self.store)

    def story(self, story_id: str) -> dict[str, Any] | None:
        """One story document, or None."""
        found = export.stories(self.store, story_id)
        return found[0] if found else None

    def table(self, name: str) -> pa.Table:
        """A store table by name: an ``export --table`` choice (articles, edges, reuse_clusters, stories, ...)."""
        return export.table(self.store, name)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run SQL over the store's tables with DuckDB."""
        return self.store.query(sql)

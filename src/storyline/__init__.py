"""storyline: turn a pile of scraped news pages into stories.

Example:
    >>> import storyline
    >>> store = storyline.run(["pages/"], out="storyline-out")   # doctest: +SKIP
    >>> storyline.open("storyline-out").stories()[0]["story_id"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Arrow's C++ code (Parquet reads, Acero group-bys) allocates from the pool this variable names when
# pyarrow loads, whatever pa.set_memory_pool says later; its default mimalloc kept the freed pages
# (0.3 GB of the driver after the corpus stages at 100k). Set before pyarrow loads, inherited by workers.
# Linux only: macOS wheels have no jemalloc. A pool the user names is kept (engines.base.use_jemalloc).
POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
if sys.platform.startswith("linux") and "pyarrow" not in sys.modules and not os.environ.get(POOL_ENV):
    os.environ[POOL_ENV] = "jemalloc"

if TYPE_CHECKING:
    from .api import Results

__all__ = ["__version__", "open", "run"]


def run(inputs: list[str] | str, out: str | Path = "storyline-out", **kwargs: Any) -> "Results":
    """Run the whole pipeline on ``inputs`` into ``out`` and return the results (see pipeline.run)."""
    from .api import Results
    from .pipeline import run as _run

    store, report = _run([inputs] if isinstance(inputs, str) else inputs, out, **kwargs)
    return Results(store, report)


def open(out: str | Path) -> "Results":  # noqa: A001 - mirrors storyline.run's store
    """Open an existing store folder for reading."""
    from .api import Results
    from .store import Store

    return Results(Store(out, create=False))

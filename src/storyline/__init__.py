"""storyline: turn a pile of scraped news pages into stories.

Example:
    >>> import storyline
    >>> store = storyline.run(["pages/"], out="storyline-out")   # doctest: +SKIP
    >>> storyline.open("storyline-out").stories()[0]["story_id"]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

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

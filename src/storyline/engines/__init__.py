"""Execution engines: the only code that knows how steps are run."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Engine
from .local import LocalEngine

ENGINES = ("local",)


def get_engine(name: str, workers: int = 1) -> Engine:
    """The engine called ``name``."""
    if name == "local":
        return LocalEngine(workers=workers)
    raise ConfigError(f"unknown engine {name!r}; allowed: {', '.join(ENGINES)}")

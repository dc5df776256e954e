"""Execution engines: the only code that knows how steps are run."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Engine
from .local import LocalEngine

ENGINES = ("local", "ray")


def get_engine(name: str, workers: int = 1, address: str | None = None) -> Engine:
    """The engine called ``name``.

    Args:
        name: ``local`` or ``ray``.
        workers: processes for the local engine; for Ray, the CPUs of a private local Ray
            (``address`` None), where 1 means all CPUs of this machine.
        address: Ray only: None (a private local Ray), ``auto`` or ``ray://host:port``.

    Raises:
        ConfigError: an unknown engine, an address for the local engine, or Ray not installed.
    """
    if name == "local":
        if address is not None:
            raise ConfigError("--address is for --engine ray; the local engine runs in this process")
        return LocalEngine(workers=workers)
    if name == "ray":
        from .ray import RayEngine, _ray

        _ray()  # fail now, with the install hint, rather than at the first stage
        return RayEngine(address=address, num_cpus=workers if workers > 1 else None)
    raise ConfigError(f"unknown engine {name!r}; allowed: {', '.join(ENGINES)}")

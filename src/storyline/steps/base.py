"""What every step shares: the protocol, rebuilding from params, and reject routing.

A step is a dataclass that only stores parameters (so ``type(step)(**params(step))`` rebuilds it
on any worker), declares the columns it ``reads`` and its ``output_schema``, and maps one Arrow
table to another. Rows it cannot process are returned with a non-null ``_reject`` column; the
engine moves them to the rejects table, so a bad record never kills a batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import pyarrow as pa

REJECT_COLUMN = "_reject"
T = TypeVar("T")


@runtime_checkable
class Step(Protocol):
    """A pipeline step: ``kind`` is map, group (with ``key``) or gather."""

    kind: ClassVar[str]
    reads: ClassVar[tuple[str, ...]]
    output_schema: ClassVar[pa.Schema]

    def __call__(self, batch: pa.Table) -> pa.Table: ...


def params(step: Any) -> dict[str, Any]:
    """The constructor kwargs that rebuild ``step``."""
    return {f.name: getattr(step, f.name) for f in dataclasses.fields(step)}


def rebuild(step: Any) -> Any:
    """A fresh copy of ``step`` made from its params (what a remote worker does)."""
    return type(step)(**params(step))


def with_reject(schema: pa.Schema) -> pa.Schema:
    """``schema`` plus the nullable ``_reject`` reason column."""
    return schema.append(pa.field(REJECT_COLUMN, pa.string()))


def check_reads(step: Any, batch: pa.Table) -> None:
    """Raise early, naming the missing columns, when ``batch`` lacks what ``step`` reads."""
    missing = [c for c in step.reads if c not in batch.column_names]
    if missing:
        raise ValueError(
            f"{type(step).__name__} reads {missing} but the batch has {batch.column_names}; "
            "check the step order in the pipeline"
        )


class StepTimeout(Exception):
    """One record took longer than the stage's timeout."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`StepTimeout` if the block runs longer than ``seconds`` (0 = no limit).

    Uses SIGALRM, so it only limits code running in a process's main thread (the local engine's
    workers and Ray's are); elsewhere the block runs unlimited rather than failing.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    fired = False

    def _raise(signum: int, frame: Any) -> None:
        nonlocal fired
        fired = True
        raise StepTimeout(f"record took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, _raise)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:  # the alarm's exception was swallowed (raised inside a gc callback or a __del__)
        raise StepTimeout(f"record took longer than {seconds}s")


def per_record(seconds: float, fn: Callable[..., T], *args: Any) -> tuple[T | None, str | None]:
    """``fn(*args)`` under :func:`time_limit`: ``(result, None)``, or ``(None, reason)`` for a ``_reject`` column.

    The reason is ``"timeout: > Ns"`` when it ran past ``seconds`` and ``"error: Type"`` when it raised,
    so one pathological record never kills its batch (the caller emits a reject row for it instead).
    """
    try:
        with time_limit(seconds):
            return fn(*args), None
    except StepTimeout:
        return None, f"timeout: > {seconds}s"
    except Exception as exc:  # noqa: BLE001 - any failure of one record becomes its reject reason
        return None, f"error: {type(exc).__name__}"

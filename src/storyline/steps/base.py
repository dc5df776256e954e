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


@contextlib.contextmanager
def record_limits(seconds: float) -> Iterator[Callable[..., tuple[Any, str | None]]]:
    """A runner of one record at a time under :func:`time_limit`'s alarm: ``limited(fn, *args)`` gives
    ``(result, None)``, or ``(None, reason)`` for a ``_reject`` column: ``"timeout: > Ns"`` when it
    ran past ``seconds``, ``"error: Type"`` when it raised. One pathological record never kills its
    batch. The alarm handler is installed once for the whole batch and each record only arms the
    timer (a handler per record cost as much as finding an article's figures).

    Example:
        >>> with record_limits(5.0) as limited:
        ...     [limited(int, s) for s in ("7", "x")]
        [(7, None), (None, 'error: ValueError')]
    """
    timed = seconds > 0 and threading.current_thread() is threading.main_thread()
    fired = False

    def _raise(signum: int, frame: Any) -> None:
        nonlocal fired
        fired = True
        raise StepTimeout(f"record took longer than {seconds}s")

    def limited(fn: Callable[..., T], *args: Any) -> tuple[T | None, str | None]:
        nonlocal fired
        fired = False
        try:
            if not timed:
                return fn(*args), None
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                result = fn(*args)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if fired:  # the alarm's exception was swallowed (raised inside a gc callback or a __del__)
                raise StepTimeout(f"record took longer than {seconds}s")
            return result, None
        except StepTimeout:
            return None, f"timeout: > {seconds}s"
        except Exception as exc:  # noqa: BLE001 - any failure of one record becomes its reject reason
            return None, f"error: {type(exc).__name__}"

    previous = signal.signal(signal.SIGALRM, _raise) if timed else None
    try:
        yield limited
    finally:
        if timed:
            signal.signal(signal.SIGALRM, previous)

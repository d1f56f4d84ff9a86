"""Step timings of multi-step operations (the container start path, …) as Prometheus data.

``with timed("execd.runc_start"): …`` observes the step's duration in one
histogram labelled by step, so ``/metrics`` (and ``python -m bench.containers``)
shows where a ``docker run`` spends its time without any log parsing.
Observing costs a few microseconds; it is on in production.

With ``DOCKYARD_TRACE_FILE`` set in a process's environment, every step, RPC,
API request and etcd call is also appended to that file as one line with its start on
the host's monotonic clock (shared by all processes), so ``python -m
bench.timeline`` can lay one ``docker run`` out in time across services. Off
unless asked for: a bench's tool, not a production feature.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from prometheus_client import Histogram

STEP_SECONDS = Histogram(
    "dockyard_step_seconds",
    "Time one step of a multi-step operation took, by step (<component>.<step>).",
    ["step"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)


T = TypeVar("T")

TRACE_ENV = "DOCKYARD_TRACE_FILE"
_TRACE_FD: int | None = None
if os.environ.get(TRACE_ENV):
    _TRACE_FD = os.open(os.environ[TRACE_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def tracing() -> bool:
    """Whether spans are written down (``DOCKYARD_TRACE_FILE`` is set)."""
    return _TRACE_FD is not None


async def traced(kind: str, name: str | Callable[[], str], call: Awaitable[T]) -> T:
    """Await ``call``, written down as a span when tracing is on.

    ``name`` may be a function making it: called only when tracing, so a name
    that costs something to make costs nothing on a hot path otherwise.
    """
    if _TRACE_FD is None:
        return await call
    started = time.perf_counter()
    try:
        return await call
    finally:
        trace(kind, name if isinstance(name, str) else name(), started,
              time.perf_counter() - started)


def trace(kind: str, name: str, started: float, elapsed: float) -> None:
    """Append one timed span to the trace file, when tracing is on (see the module doc).

    ``started`` is a ``time.perf_counter()`` reading: CLOCK_MONOTONIC on Linux,
    comparable between processes. One short ``O_APPEND`` write per span keeps
    lines from different processes whole.
    """
    if _TRACE_FD is None:
        return
    line = f"{started:.6f} {elapsed:.6f} {os.getpid()} {kind} {name}\n"
    os.write(_TRACE_FD, line.encode())


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    """Observe the duration of the ``with`` block (also when it raises) under ``step``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        STEP_SECONDS.labels(step).observe(elapsed)
        trace("step", step, started, elapsed)

"""Step timings of multi-step operations (the container start path, …) as Prometheus data.

``with timed("execd.runc_start"): …`` observes the step's duration in one
histogram labelled by step, so ``/metrics`` (and ``python -m bench.containers``)
shows where a ``docker run`` spends its time without any log parsing.
Observing costs a few microseconds; it is on in production.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Histogram

STEP_SECONDS = Histogram(
    "dockyard_step_seconds",
    "Time one step of a multi-step operation took, by step (<component>.<step>).",
    ["step"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    """Observe the duration of the ``with`` block (also when it raises) under ``step``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        STEP_SECONDS.labels(step).observe(time.perf_counter() - started)

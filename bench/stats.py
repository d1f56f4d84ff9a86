"""Summaries of timing samples. Pure functions, unit-tested."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def median(samples: Sequence[float]) -> float:
    if not samples:
        raise ValueError("median of no samples")
    return statistics.median(samples)


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually observed, never interpolated."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {pct}")
    ordered = sorted(samples)
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[rank - 1]


@dataclass(frozen=True)
class LatencySummary:
    """Latencies of one endpoint, in seconds, and the throughput of the loop that made them."""

    count: int
    median_s: float
    p95_s: float
    requests_per_s: float

    def to_json(self) -> dict[str, float]:
        return {
            "count": self.count,
            "median_ms": self.median_s * 1000,
            "p95_ms": self.p95_s * 1000,
            "requests_per_s": self.requests_per_s,
        }


def summarize(samples: Sequence[float], wall_s: float) -> LatencySummary:
    """``samples`` are per-request latencies; ``wall_s`` is the whole loop's duration."""
    return LatencySummary(
        count=len(samples),
        median_s=median(samples),
        p95_s=percentile(samples, 95),
        requests_per_s=len(samples) / wall_s if wall_s > 0 else math.inf,
    )

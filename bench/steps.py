"""Where a container operation spends its time, from Dockyard's own metrics.

Every Dockyard process writes its Prometheus samples to the cluster's
multiprocess directory (``<exec-root>/metrics``): the step histograms of
:mod:`services.common.timing`, the gRPC handling times of every service and
the gateway's request times. Two snapshots taken around a loop of N runs give
the mean time per run of each; :func:`breakdown` is pure and unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

Key = tuple[str, str]
"""(metric family, label text) of one histogram series."""


@dataclass(frozen=True)
class Totals:
    """A histogram series' running sum (seconds) and count."""

    seconds: float = 0.0
    count: float = 0.0


@dataclass(frozen=True)
class StepTime:
    label: str
    ms_per_run: float
    calls_per_run: float


FAMILIES = {
    "dockyard_step_seconds": "step",
    "dockyard_grpc_server_handling_seconds": "rpc",
    "dockyard_gateway_request_seconds": "api",
}


def label_text(family: str, labels: Mapping[str, str]) -> str:
    """A short name for one series: ``step execd.create``, ``rpc execd StartContainer``…"""
    kind = FAMILIES.get(family, family)
    if kind == "step":
        return f"step {labels.get('step', '')}"
    if kind == "rpc":
        service = labels.get("service", "").split(".")[1:2] or [labels.get("service", "")]
        return f"rpc {service[0]} {labels.get('method', '')}"
    return f"api {labels.get('method', '')} {labels.get('route', '')}"


def snapshot(metrics_dir: Path) -> dict[Key, Totals]:
    """The sums and counts of every timing series the cluster's processes wrote."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    sums: dict[Key, float] = {}
    counts: dict[Key, float] = {}
    for family in registry.collect():
        if family.name not in FAMILIES:
            continue
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            key = (family.name, label_text(family.name, labels))
            if sample.name.endswith("_sum"):
                sums[key] = sums.get(key, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                counts[key] = counts.get(key, 0.0) + sample.value
    return {key: Totals(sums.get(key, 0.0), counts.get(key, 0.0)) for key in sums}


def breakdown(
    before: Mapping[Key, Totals], after: Mapping[Key, Totals], runs: int
) -> list[StepTime]:
    """Mean time per run of every series that moved, slowest first."""
    if runs <= 0:
        raise ValueError("runs must be positive")
    found = []
    for key, end in after.items():
        start = before.get(key, Totals())
        calls = end.count - start.count
        if calls <= 0:
            continue
        found.append(StepTime(key[1], (end.seconds - start.seconds) / runs * 1000, calls / runs))
    return sorted(found, key=lambda s: (-s.ms_per_run, s.label))

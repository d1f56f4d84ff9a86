"""Per-container Prometheus metrics: CPU seconds, memory usage and limit, pids, OOM kills.

The values are a snapshot of every container taken by one periodic sample.
Under the launcher (``PROMETHEUS_MULTIPROC_DIR`` set) the gateway's /metrics
reads only the multiprocess files, and prometheus_client cannot remove a label
set from those files: a removed container would linger forever. So cgroupd
writes the whole snapshot as its own ``livemostrecent`` gauge file, replaced
atomically at every tick (a removed container is simply absent from the next
one) and deleted with the process's other live files when it exits. Without
the launcher the same snapshot is served by a collector in the default registry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.registry import Collector

from services.cgroupd.stats import NS_PER_S, StatsSample

LABELS = ["container_id", "name"]
METRICS: tuple[tuple[str, str], ...] = (
    ("dockyard_container_cpu_seconds", "CPU time the container has used, in seconds."),
    ("dockyard_container_memory_usage_bytes", "Memory the container's cgroup uses."),
    ("dockyard_container_memory_limit_bytes",
     "Memory limit of the container (the host's memory when it has none)."),
    ("dockyard_container_pids", "Processes and threads in the container."),
    ("dockyard_container_oom_kills", "Processes of the container killed by the OOM killer."),
)


@dataclass(frozen=True)
class ContainerFigures:
    container_id: str
    name: str
    values: tuple[float, ...]
    """One value per entry of METRICS, in order."""


def figures(container_id: str, name: str, sample: StatsSample, oom_kills: int) -> ContainerFigures:
    return ContainerFigures(container_id, name, (
        sample.cpu.total_usage / NS_PER_S,
        float(sample.memory.usage),
        float(sample.memory.limit),
        float(sample.pids.current),
        float(oom_kills),
    ))


class _SnapshotCollector(Collector):
    def __init__(self) -> None:
        self.snapshot: list[ContainerFigures] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for index, (name, help_text) in enumerate(METRICS):
            family = GaugeMetricFamily(name, help_text, labels=LABELS)
            for fig in self.snapshot:
                family.add_metric([fig.container_id, fig.name], fig.values[index])
            yield family


class ContainerMetrics:
    """Publishes the latest per-container snapshot where the cluster's /metrics finds it."""

    def __init__(self, multiproc_dir: str | None = None) -> None:
        self._dir = Path(multiproc_dir) if multiproc_dir else None
        self._collector: _SnapshotCollector | None = None
        if self._dir is None:
            self._collector = _SnapshotCollector()
            REGISTRY.register(self._collector)

    @classmethod
    def from_environment(cls) -> ContainerMetrics:
        return cls(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

    @property
    def file(self) -> Path | None:
        """The gauge file (named as prometheus_client names live gauges, so that
        ``mark_process_dead`` removes it when cgroupd exits)."""
        return self._dir / f"gauge_livemostrecent_{os.getpid()}.db" if self._dir else None

    def publish(self, snapshot: Iterable[ContainerFigures]) -> None:
        rows = list(snapshot)
        if self._collector is not None:
            self._collector.snapshot = rows
            return
        target = self.file
        assert target is not None
        tmp = target.with_name(target.name + ".tmp")  # not *.db: the collector skips it
        tmp.unlink(missing_ok=True)
        now = time.time()
        values = MmapedDict(str(tmp))  # type: ignore[no-untyped-call]
        try:
            for fig in rows:
                for index, (name, help_text) in enumerate(METRICS):
                    k = mmap_key(name, name, LABELS, [fig.container_id, fig.name], help_text)
                    values.write_value(k, fig.values[index], now)  # type: ignore[no-untyped-call]
        finally:
            values.close()  # type: ignore[no-untyped-call]
        tmp.replace(target)

    def close(self) -> None:
        if self._collector is not None:
            REGISTRY.unregister(self._collector)
            self._collector = None

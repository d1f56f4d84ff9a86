"""Per-container metrics reach a MultiProcessCollector scrape, and vanish with the container."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from services.cgroupd.metrics import ContainerMetrics, figures
from services.cgroupd.stats import BlkioStats, CpuStats, MemoryStats, PidsStats, StatsSample


def scrape(directory: Path) -> str:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry).decode()


def sample() -> StatsSample:
    return StatsSample(read_ns=0, cpu=CpuStats(total_usage=2_500_000_000),
                       memory=MemoryStats(usage=4096, limit=8192), pids=PidsStats(current=3),
                       blkio=BlkioStats())


def test_snapshot_is_scraped_and_replaced(tmp_path: Path) -> None:
    sink = ContainerMetrics(str(tmp_path))
    sink.publish([figures("abc", "web", sample(), 1), figures("def", "db", sample(), 0)])
    text = scrape(tmp_path)
    assert 'dockyard_container_cpu_seconds{container_id="abc",name="web"} 2.5' in text
    assert 'dockyard_container_memory_usage_bytes{container_id="abc",name="web"} 4096.0' in text
    assert 'dockyard_container_memory_limit_bytes{container_id="def",name="db"} 8192.0' in text
    assert 'dockyard_container_pids{container_id="abc",name="web"} 3.0' in text
    assert 'dockyard_container_oom_kills{container_id="abc",name="web"} 1.0' in text

    sink.publish([figures("def", "db", sample(), 0)])  # "abc" was removed
    text = scrape(tmp_path)
    assert 'container_id="abc"' not in text and 'container_id="def"' in text
    assert not list(tmp_path.glob("*.tmp"))


def test_without_multiprocess_dir_a_collector_serves_it() -> None:
    from prometheus_client import REGISTRY

    sink = ContainerMetrics(None)
    try:
        sink.publish([figures("abc", "web", sample(), 0)])
        text = generate_latest(REGISTRY).decode()
        assert 'dockyard_container_pids{container_id="abc",name="web"} 3.0' in text
    finally:
        sink.close()

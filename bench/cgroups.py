"""cgroupd's hot paths on the host's real cgroupfs: ``python -m bench.cgroups``.

Measures, under a private parent removed afterwards:
- creating one container cgroup with limits (mkdir in every hierarchy + limit
  writes; the etcd write is excluded: it is etcd's latency, not cgroupd's);
- one statistics sample of 100 containers (what the metrics loop and a
  ``docker stats`` of everything cost).
Targets: create ≤ 2 ms median, 100-container sample ≤ 100 ms. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time

from bench.report import Row, render_table
from bench.stats import median
from services.cgroupd.driver import Driver, rmdir_tree
from services.cgroupd.hostinfo import CGROUP_ROOT, cgroup_version
from services.cgroupd.manager import online_cpus, read_system_cpu
from services.cgroupd.resources import Resources
from services.common.errors import DockyardError

CREATES = 100
SAMPLE_ROUNDS = 10
MiB = 1024 * 1024
LIMITS = Resources(memory=64 * MiB, memory_swap=128 * MiB, cpu_shares=512,
                   nano_cpus=500_000_000, pids_limit=100, cpuset_cpus="0")


def _driver() -> Driver:
    from services.cgroupd.servicer import make_driver

    return make_driver(cgroup_version())


def _cleanup(parent: str) -> None:
    roots = [p for p in CGROUP_ROOT.iterdir() if (p / parent).is_dir()]
    if (CGROUP_ROOT / parent).is_dir():
        roots.append(CGROUP_ROOT)
    for root in roots:
        with contextlib.suppress(DockyardError):
            rmdir_tree(root / parent)


def measure() -> list[Row]:
    """The two measures as report rows (ms)."""
    driver = _driver()
    parent = f"dockyard-bench-{secrets.token_hex(4)}"
    driver.create(parent)
    try:
        create_s = []
        for _ in range(CREATES):
            path = f"{parent}/{secrets.token_hex(32)}"
            start = time.perf_counter()
            driver.create(path)
            driver.apply(path, LIMITS)
            create_s.append(time.perf_counter() - start)
        paths = [f"{parent}/{name}" for name in sorted(driver.children(parent))]
        sample_s = []
        for _ in range(SAMPLE_ROUNDS):
            start = time.perf_counter()
            system, cpus = read_system_cpu(), online_cpus()
            for path in paths:
                driver.sample(path, system, cpus)
                driver.oom_kills(path)
            sample_s.append(time.perf_counter() - start)
        remove_s = []
        for path in paths:
            start = time.perf_counter()
            driver.remove(path)
            remove_s.append(time.perf_counter() - start)
    finally:
        _cleanup(parent)
    return [
        Row(f"cgroup create with limits (v{driver.version}), median", "ms",
            median(create_s) * 1000),
        Row(f"stats sample of {len(paths)} containers, median", "ms", median(sample_s) * 1000),
        Row("cgroup remove, median", "ms", median(remove_s) * 1000),
    ]


def main() -> int:
    if os.geteuid() != 0:
        print("bench.cgroups: needs root (it writes cgroupfs)", file=sys.stderr)
        return 1
    print(render_table(measure()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

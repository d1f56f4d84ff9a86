"""Detect the host's cgroup setup and what it can enforce.

A host is cgroup v2 when ``/sys/fs/cgroup`` itself is the unified hierarchy
(``cgroup.controllers`` at its root). A hybrid host, with v1 controller
hierarchies and a controller-less v2 mount beside them, is v1 for containers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.errors import InvalidArgument

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CgroupHostInfo:
    driver: str
    version: str
    parent: str
    memory_limit: bool
    swap_limit: bool
    cpu_cfs_period: bool
    cpu_cfs_quota: bool
    cpu_shares: bool
    cpuset: bool
    pids_limit: bool
    oom_kill_disable: bool
    kernel_memory_tcp: bool


def cgroup_version(root: Path = CGROUP_ROOT) -> str:
    return "2" if (root / "cgroup.controllers").exists() else "1"


def _own_v2_path(proc_self_cgroup: str) -> str:
    for line in proc_self_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:].strip().lstrip("/")
    return ""


def check_driver(driver: str, systemd_marker: Path = Path("/run/systemd/system")) -> None:
    """Refuse the systemd driver on a host where systemd is not the init system."""
    if driver == "systemd" and not systemd_marker.is_dir():
        raise InvalidArgument(
            "cgroup driver systemd was asked for (exec-opts native.cgroupdriver=systemd) "
            "but systemd is not running on this host; use native.cgroupdriver=cgroupfs"
        )


def detect(
    driver: str,
    parent: str,
    root: Path = CGROUP_ROOT,
    proc_self_cgroup: str | None = None,
) -> CgroupHostInfo:
    """What the cgroup hierarchy under ``root`` supports for containers."""
    if cgroup_version(root) == "2":
        controllers = set((root / "cgroup.controllers").read_text().split())
        own = _own_v2_path(
            proc_self_cgroup
            if proc_self_cgroup is not None
            else Path("/proc/self/cgroup").read_text()
        )
        has_cpu = "cpu" in controllers
        return CgroupHostInfo(
            driver=driver,
            version="2",
            parent=parent,
            memory_limit="memory" in controllers,
            swap_limit=(root / own / "memory.swap.max").exists()
            or (root / "memory.swap.current").exists(),
            cpu_cfs_period=has_cpu,
            cpu_cfs_quota=has_cpu,
            cpu_shares=has_cpu,
            cpuset="cpuset" in controllers,
            pids_limit="pids" in controllers,
            # cgroup v2 has no per-cgroup switch for the OOM killer, nor kmem.tcp.
            oom_kill_disable=False,
            kernel_memory_tcp=False,
        )
    return CgroupHostInfo(
        driver=driver,
        version="1",
        parent=parent,
        memory_limit=(root / "memory/memory.limit_in_bytes").exists(),
        swap_limit=(root / "memory/memory.memsw.limit_in_bytes").exists(),
        cpu_cfs_period=(root / "cpu/cpu.cfs_period_us").exists(),
        cpu_cfs_quota=(root / "cpu/cpu.cfs_quota_us").exists(),
        cpu_shares=(root / "cpu/cpu.shares").exists(),
        cpuset=(root / "cpuset/cpuset.cpus").exists(),
        pids_limit=(root / "pids").is_dir(),
        oom_kill_disable=(root / "memory/memory.oom_control").exists(),
        kernel_memory_tcp=(root / "memory/memory.kmem.tcp.limit_in_bytes").exists(),
    )

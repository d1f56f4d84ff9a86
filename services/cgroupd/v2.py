"""The cgroup v2 driver: one unified hierarchy, limits in the v2 file names and units.

Values are converted as runc converts Docker's v1-shaped settings:
cpu-shares → ``cpu.weight``, memory-swap (memory + swap) → ``memory.swap.max``
(swap alone), memory-reservation → ``memory.low``, blkio-weight → ``io.weight``.
"""

from __future__ import annotations

import time
from pathlib import Path

from services.cgroupd import driver as fs
from services.cgroupd.resources import Capabilities, Resources, ThrottleDevice
from services.cgroupd.stats import (
    BlkioStats,
    CpuStats,
    MemoryStats,
    PidsStats,
    StatsSample,
    parse_flat_keyed,
    parse_limit,
    parse_v2_io_stat,
)
from services.cgroupd.v1 import host_memory

WANTED_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")
DEFAULT_PERIOD = 100_000


def shares_to_weight(shares: int) -> int:
    """runc's cpu-shares [2, 262144] → cpu.weight [1, 10000]; 0 means unset."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """runc's blkio-weight [10, 1000] → io.weight [1, 10000]; 0 means unset."""
    if weight == 0:
        return 0
    return 1 + ((weight - 10) * 9999) // 990


def swap_max(memory: int, memory_swap: int) -> str | None:
    """memory.swap.max for Docker's memory-swap (memory plus swap); None leaves it alone."""
    if memory_swap == -1:
        return "max"
    if memory_swap > 0 and memory > 0:
        return str(memory_swap - memory)
    return None


def io_max_lines(res: Resources) -> list[str]:
    """One ``MAJ:MIN rbps=… wbps=… riops=… wiops=…`` line per throttled device."""
    keys = {"read_bps": "rbps", "write_bps": "wbps", "read_iops": "riops", "write_iops": "wiops"}
    per_device: dict[tuple[int, int], list[str]] = {}
    for kind, devices in res.throttles:
        dev: ThrottleDevice
        for dev in devices:
            per_device.setdefault((dev.major, dev.minor), []).append(f"{keys[kind]}={dev.rate}")
    return [f"{major}:{minor} {' '.join(v)}" for (major, minor), v in sorted(per_device.items())]


class V2Driver:
    """Container cgroups in a unified (v2) hierarchy mounted at ``root``."""

    version = "2"

    def __init__(self, root: Path) -> None:
        self._root = root

    def _controllers(self) -> set[str]:
        return set(fs.read_text(self._root / "cgroup.controllers").split())

    def capabilities(self) -> Capabilities:
        on = self._controllers()
        io = "io" in on
        cpus = fs.read_text(self._root / "cpuset.cpus.effective").strip()
        mems = fs.read_text(self._root / "cpuset.mems.effective").strip()
        return Capabilities(
            memory_limit="memory" in on,
            swap_limit="memory" in on,
            memory_reservation="memory" in on,
            # v2 has no switch for the OOM killer of one cgroup.
            oom_kill_disable=False,
            pids_limit="pids" in on,
            cpu_shares="cpu" in on,
            cpu_cfs="cpu" in on,
            cpuset="cpuset" in on,
            blkio_weight=io,
            blkio_read_bps=io,
            blkio_write_bps=io,
            blkio_read_iops=io,
            blkio_write_iops=io,
            cpus=cpus or fs.read_text(Path("/sys/devices/system/cpu/online")).strip(),
            mems=mems or "0",
        )

    # ---- lifecycle --------------------------------------------------------------

    def create(self, path: str) -> None:
        available = self._controllers()
        wanted = [c for c in WANTED_CONTROLLERS if c in available]
        current = self._root
        for part in Path(path).parts:
            # Controllers reach a cgroup only if every ancestor delegates them;
            # a level that already delegates them is left untouched.
            delegated = set(fs.read_text(current / "cgroup.subtree_control").split())
            if not set(wanted) <= delegated:
                fs.write(current / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
            current = current / part
            current.mkdir(exist_ok=True)

    def exists(self, path: str) -> bool:
        return (self._root / path).is_dir()

    def directories(self, path: str) -> list[Path]:
        return [self._root / path]

    def remove(self, path: str) -> None:
        target = self._root / path
        fs.ensure_removable([target], path)
        fs.rmdir_tree(target)

    def pids(self, path: str) -> set[int]:
        return fs.procs_below(self._root / path)

    def add_process(self, path: str, pid: int) -> None:
        fs.write(self._root / path / "cgroup.procs", pid)

    def children(self, parent: str) -> set[str]:
        d = self._root / parent
        return {c.name for c in d.iterdir() if c.is_dir()} if d.is_dir() else set()

    # ---- limits -----------------------------------------------------------------

    def apply(self, path: str, res: Resources) -> None:
        d = self._root / path
        on = self._controllers()
        if "memory" in on:
            if res.memory_reservation:
                fs.write(d / "memory.low", res.memory_reservation)
            swap = swap_max(res.memory, res.memory_swap)
            # memory.swap.max is independent of memory.max on v2: order does not matter.
            fs.write(d / "memory.max", res.memory or "max")
            if swap is not None:
                fs.write(d / "memory.swap.max", swap)
        if "cpu" in on:
            if res.cpu_shares:
                fs.write(d / "cpu.weight", shares_to_weight(res.cpu_shares))
            period, quota = res.cfs()
            fs.write(d / "cpu.max",
                     f"{quota if quota > 0 else 'max'} {period or DEFAULT_PERIOD}")
        if "cpuset" in on:
            if res.cpuset_cpus:
                fs.write(d / "cpuset.cpus", res.cpuset_cpus)
            if res.cpuset_mems:
                fs.write(d / "cpuset.mems", res.cpuset_mems)
        if "pids" in on and res.pids_limit is not None:
            fs.write(d / "pids.max", res.pids_limit if res.pids_limit > 0 else "max")
        if "io" in on:
            if res.blkio_weight:
                bfq = d / "io.bfq.weight"
                if bfq.exists():  # BFQ takes blkio's own 1..1000 scale
                    fs.write(bfq, res.blkio_weight)
                else:
                    fs.write(d / "io.weight", f"default {blkio_to_io_weight(res.blkio_weight)}")
            for line in io_max_lines(res):
                fs.write(d / "io.max", line)

    # ---- freezer ----------------------------------------------------------------

    def set_frozen(self, path: str, frozen: bool) -> None:
        d = self._root / path
        fs.must_exist(d, path)
        fs.write(d / "cgroup.freeze", 1 if frozen else 0)

    def freeze_state(self, path: str) -> str:
        d = self._root / path
        wanted = fs.read_text(d / "cgroup.freeze", "0").strip() == "1"
        frozen = parse_flat_keyed(fs.read_text(d / "cgroup.events")).get("frozen", 0) == 1
        if frozen:
            return fs.FROZEN
        return fs.FREEZING if wanted else fs.THAWED

    # ---- statistics ---------------------------------------------------------------

    def oom_kills(self, path: str) -> int:
        events = parse_flat_keyed(fs.read_text(self._root / path / "memory.events"))
        return events.get("oom_kill", 0)

    def sample(self, path: str, system_cpu_ns: int, online_cpus: int) -> StatsSample:
        d = self._root / path
        cpu = parse_flat_keyed(fs.read_text(d / "cpu.stat"))
        limit = parse_limit(fs.read_text(d / "memory.max"))
        service_bytes, serviced = parse_v2_io_stat(fs.read_text(d / "io.stat"))
        return StatsSample(
            read_ns=time.time_ns(),
            cpu=CpuStats(
                total_usage=cpu.get("usage_usec", 0) * 1000,
                usage_in_kernelmode=cpu.get("system_usec", 0) * 1000,
                usage_in_usermode=cpu.get("user_usec", 0) * 1000,
                system_cpu_usage=system_cpu_ns,
                online_cpus=online_cpus,
                periods=cpu.get("nr_periods", 0),
                throttled_periods=cpu.get("nr_throttled", 0),
                throttled_time=cpu.get("throttled_usec", 0) * 1000,
            ),
            memory=MemoryStats(
                usage=fs.read_int(d / "memory.current"),
                max_usage=fs.read_int(d / "memory.peak"),
                limit=limit or host_memory(),
                stats=parse_flat_keyed(fs.read_text(d / "memory.stat")),
            ),
            pids=PidsStats(current=fs.read_int(d / "pids.current"),
                           limit=parse_limit(fs.read_text(d / "pids.max"))),
            blkio=BlkioStats(io_service_bytes_recursive=service_bytes,
                             io_serviced_recursive=serviced),
        )

"""The cgroup v1 driver: one directory per controller hierarchy (memory, cpu, cpuset ...).

A container's cgroup exists in every mounted v1 hierarchy, so that runc, given
the same cgroupsPath, joins ours instead of making its own, and removal leaves
nothing behind in any of them.
"""

from __future__ import annotations

import time
from pathlib import Path

from services.cgroupd import driver as fs
from services.cgroupd.resources import Capabilities, Resources
from services.cgroupd.stats import (
    BlkioStats,
    CpuStats,
    MemoryStats,
    PidsStats,
    StatsSample,
    parse_flat_keyed,
    parse_percpu,
    parse_v1_blkio,
    ticks_to_ns,
)
from services.common.errors import Conflict, Internal

CREATE_ATTEMPTS = 3
"""Tries at making a container's cgroup that someone else's rmdir is racing (see create)."""
UNLIMITED_FLOOR = 1 << 62
"""v1 reports "no limit" as a huge page-rounded number; anything above this is unlimited."""


def discover(mountinfo: str, root: Path = Path("/sys/fs/cgroup")) -> dict[str, Path]:
    """Controller (or ``name=``) → mount point, for every v1 hierarchy below ``root``."""
    found: dict[str, Path] = {}
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fields, after = pre.split(), post.split()
        if len(after) < 3 or after[0] != "cgroup":
            continue
        mount = Path(fields[4])
        if not mount.is_relative_to(root):
            continue
        for opt in after[2].split(","):
            if opt in ("rw", "ro") or ("=" in opt and not opt.startswith("name=")):
                continue
            found[opt] = mount
    return found


def host_memory() -> int:
    for line in fs.read_text(Path("/proc/meminfo")).splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _write_limit(path: Path, limit: int, what: str, counters: str) -> None:
    """Write a memory limit; the kernel's EBUSY (usage above it) in runc's words."""
    try:
        fs.write(path, limit)
    except Conflict:
        usage = fs.read_int(path.parent / f"{counters}.usage_in_bytes")
        peak = fs.read_int(path.parent / f"{counters}.max_usage_in_bytes")
        raise Conflict(f"unable to set {what} limit to {limit} (current usage: {usage}, "
                       f"peak usage: {peak})") from None


class V1Driver:
    """Container cgroups on a cgroup v1 host."""

    version = "1"

    def __init__(self, hierarchies: dict[str, Path]) -> None:
        self._by_controller = hierarchies
        # Co-mounted controllers (cpu,cpuacct) share one directory: visit it once.
        self._mounts = sorted(set(hierarchies.values()))

    def _dir(self, controller: str, path: str) -> Path | None:
        mount = self._by_controller.get(controller)
        return mount / path if mount is not None else None

    def _dirs(self, path: str) -> list[Path]:
        return [mount / path for mount in self._mounts]

    def capabilities(self) -> Capabilities:
        def has(controller: str, name: str) -> bool:
            mount = self._by_controller.get(controller)
            return mount is not None and (mount / name).exists()

        cpuset = self._by_controller.get("cpuset")
        return Capabilities(
            memory_limit=has("memory", "memory.limit_in_bytes"),
            swap_limit=has("memory", "memory.memsw.limit_in_bytes"),
            memory_reservation=has("memory", "memory.soft_limit_in_bytes"),
            oom_kill_disable=has("memory", "memory.oom_control"),
            pids_limit="pids" in self._by_controller,
            cpu_shares=has("cpu", "cpu.shares"),
            cpu_cfs=has("cpu", "cpu.cfs_quota_us"),
            cpuset=has("cpuset", "cpuset.cpus"),
            blkio_weight=has("blkio", "blkio.weight"),
            blkio_read_bps=has("blkio", "blkio.throttle.read_bps_device"),
            blkio_write_bps=has("blkio", "blkio.throttle.write_bps_device"),
            blkio_read_iops=has("blkio", "blkio.throttle.read_iops_device"),
            blkio_write_iops=has("blkio", "blkio.throttle.write_iops_device"),
            cpus=fs.read_text(cpuset / "cpuset.cpus").strip() if cpuset else "",
            mems=fs.read_text(cpuset / "cpuset.mems").strip() if cpuset else "",
        )

    # ---- lifecycle --------------------------------------------------------------

    def create(self, path: str) -> None:
        # runc also removes the cgroupsPath it was given when it deletes a container,
        # one hierarchy after the other: a directory made while the previous run's
        # delete is still going can vanish under us. Made again, a bounded number of times.
        for attempt in range(CREATE_ATTEMPTS):
            try:
                self._make(path)
                return
            except Internal:
                if attempt == CREATE_ATTEMPTS - 1 or all(d.is_dir() for d in self._dirs(path)):
                    raise
                time.sleep(0.01)

    def _make(self, path: str) -> None:
        cpuset = self._by_controller.get("cpuset")
        for mount in self._mounts:
            current = mount
            for part in Path(path).parts:
                current = current / part
                current.mkdir(exist_ok=True)
                if mount == cpuset:
                    # A new v1 cpuset starts empty and accepts no task until it
                    # is given CPUs and memory nodes: inherit the parent's.
                    for name in ("cpuset.cpus", "cpuset.mems"):
                        if not fs.read_text(current / name).strip():
                            fs.write(current / name, fs.read_text(current.parent / name).strip())

    def exists(self, path: str) -> bool:
        return any(d.is_dir() for d in self._dirs(path))

    def directories(self, path: str) -> list[Path]:
        return self._dirs(path)

    def remove(self, path: str) -> None:
        dirs = self._dirs(path)
        fs.ensure_removable(dirs, path)
        for d in dirs:
            fs.rmdir_tree(d)

    def pids(self, path: str) -> set[int]:
        found: set[int] = set()
        for d in self._dirs(path):
            found |= fs.procs_below(d)
        return found

    def add_process(self, path: str, pid: int) -> None:
        for d in self._dirs(path):
            fs.write(d / "cgroup.procs", pid)

    def children(self, parent: str) -> set[str]:
        names: set[str] = set()
        for d in self._dirs(parent):
            if d.is_dir():
                names.update(c.name for c in d.iterdir() if c.is_dir())
        return names

    # ---- limits -----------------------------------------------------------------

    def apply(self, path: str, res: Resources) -> None:
        self._apply_memory(path, res)
        cpu = self._dir("cpu", path)
        if cpu is not None:
            if res.cpu_shares:
                fs.write(cpu / "cpu.shares", res.cpu_shares)
            period, quota = res.cfs()
            if period:
                fs.write(cpu / "cpu.cfs_period_us", period)
            fs.write(cpu / "cpu.cfs_quota_us", quota)
        cpuset = self._dir("cpuset", path)
        if cpuset is not None:
            if res.cpuset_cpus:
                fs.write(cpuset / "cpuset.cpus", res.cpuset_cpus)
            if res.cpuset_mems:
                fs.write(cpuset / "cpuset.mems", res.cpuset_mems)
        pids = self._dir("pids", path)
        if pids is not None and res.pids_limit is not None:
            fs.write(pids / "pids.max", res.pids_limit if res.pids_limit > 0 else "max")
        blkio = self._dir("blkio", path)
        if blkio is not None:
            if res.blkio_weight:
                fs.write(blkio / "blkio.weight", res.blkio_weight)
            for kind, devices in res.throttles:
                for dev in devices:
                    fs.write(blkio / f"blkio.throttle.{kind}_device",
                             f"{dev.major}:{dev.minor} {dev.rate}")

    def _apply_memory(self, path: str, res: Resources) -> None:
        memory = self._dir("memory", path)
        if memory is None:
            return
        if res.memory_reservation:
            fs.write(memory / "memory.soft_limit_in_bytes", res.memory_reservation)
        limit = res.memory or -1
        memsw_file = memory / "memory.memsw.limit_in_bytes"
        if memsw_file.exists():
            memsw = res.memory_swap if res.memory_swap > 0 else -1
            current_memsw = fs.read_int(memsw_file, -1)
            # The kernel keeps limit <= memsw at every step, so the order of the two
            # writes depends on the direction of the change.
            if memsw == -1 or limit > current_memsw:
                _write_limit(memsw_file, memsw, "memory+swap", "memory.memsw")
                _write_limit(memory / "memory.limit_in_bytes", limit, "memory", "memory")
            else:
                _write_limit(memory / "memory.limit_in_bytes", limit, "memory", "memory")
                _write_limit(memsw_file, memsw, "memory+swap", "memory.memsw")
        else:
            _write_limit(memory / "memory.limit_in_bytes", limit, "memory", "memory")
        if res.oom_kill_disable is not None:
            fs.write(memory / "memory.oom_control", 1 if res.oom_kill_disable else 0)

    # ---- freezer ----------------------------------------------------------------

    def set_frozen(self, path: str, frozen: bool) -> None:
        freezer = self._dir("freezer", path)
        if freezer is None:
            raise Internal("the freezer cgroup controller is not mounted")
        fs.must_exist(freezer, path)
        fs.write(freezer / "freezer.state", "FROZEN" if frozen else "THAWED")

    def freeze_state(self, path: str) -> str:
        freezer = self._dir("freezer", path)
        if freezer is None:
            return fs.THAWED
        return fs.read_text(freezer / "freezer.state", "THAWED").strip().lower()

    # ---- statistics ---------------------------------------------------------------

    def oom_kills(self, path: str) -> int:
        memory = self._dir("memory", path)
        if memory is None:
            return 0
        return parse_flat_keyed(fs.read_text(memory / "memory.oom_control")).get("oom_kill", 0)

    def sample(self, path: str, system_cpu_ns: int, online_cpus: int) -> StatsSample:
        read_ns = time.time_ns()
        return StatsSample(
            read_ns=read_ns,
            cpu=self._cpu(path, system_cpu_ns, online_cpus),
            memory=self._memory(path),
            pids=self._pids(path),
            blkio=self._blkio(path),
        )

    def _cpu(self, path: str, system_cpu_ns: int, online_cpus: int) -> CpuStats:
        acct = self._dir("cpuacct", path)
        cpu = self._dir("cpu", path)
        times = parse_flat_keyed(fs.read_text(acct / "cpuacct.stat")) if acct else {}
        throttle = parse_flat_keyed(fs.read_text(cpu / "cpu.stat")) if cpu else {}
        percpu = parse_percpu(fs.read_text(acct / "cpuacct.usage_percpu")) if acct else ()
        return CpuStats(
            total_usage=fs.read_int(acct / "cpuacct.usage") if acct else 0,
            percpu_usage=percpu,
            usage_in_kernelmode=ticks_to_ns(times.get("system", 0)),
            usage_in_usermode=ticks_to_ns(times.get("user", 0)),
            system_cpu_usage=system_cpu_ns,
            online_cpus=online_cpus,
            periods=throttle.get("nr_periods", 0),
            throttled_periods=throttle.get("nr_throttled", 0),
            throttled_time=throttle.get("throttled_time", 0),
        )

    def _memory(self, path: str) -> MemoryStats:
        memory = self._dir("memory", path)
        if memory is None:
            return MemoryStats()
        limit = fs.read_int(memory / "memory.limit_in_bytes")
        return MemoryStats(
            usage=fs.read_int(memory / "memory.usage_in_bytes"),
            max_usage=fs.read_int(memory / "memory.max_usage_in_bytes"),
            failcnt=fs.read_int(memory / "memory.failcnt"),
            limit=host_memory() if limit == 0 or limit >= UNLIMITED_FLOOR else limit,
            stats=parse_flat_keyed(fs.read_text(memory / "memory.stat")),
        )

    def _pids(self, path: str) -> PidsStats:
        pids = self._dir("pids", path)
        if pids is None:
            return PidsStats()
        return PidsStats(current=fs.read_int(pids / "pids.current"),
                         limit=fs.read_int(pids / "pids.max"))

    def _blkio(self, path: str) -> BlkioStats:
        blkio = self._dir("blkio", path)
        if blkio is None:
            return BlkioStats()

        # dockerd prefers the CFQ/BFQ files and falls back to the throttle ones,
        # which every kernel keeps.
        def entries(name: str) -> str:
            for prefix in ("blkio.", "blkio.throttle."):
                text = fs.read_text(blkio / f"{prefix}{name}")
                if text.strip():
                    return text
            return ""

        return BlkioStats(
            io_service_bytes_recursive=parse_v1_blkio(entries("io_service_bytes_recursive")),
            io_serviced_recursive=parse_v1_blkio(entries("io_serviced_recursive")),
        )

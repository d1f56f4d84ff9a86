"""A container's resource limits, as Docker's HostConfig names them, and their validation.

Validation follows dockerd (``verifyPlatformContainerResources``): the same
checks, in the same order, with the same refusal wording, so a client sees what
it would see from Docker. Limits the host cannot enforce are discarded with
dockerd's warning instead of failing the request.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from services.common.errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024
"""dockerd's floor for a memory limit or reservation (``linuxMinMemory``)."""

UNLIMITED_SWAP = -1
"""``MemorySwap: -1``: swap is not limited."""


@dataclass(frozen=True)
class ThrottleDevice:
    """One ``--device-{read,write}-{bps,iops}`` entry: a block device and its rate."""

    path: str
    rate: int
    major: int = -1
    minor: int = -1
    """Filled in by :func:`resolve_devices` from the device node; -1 until then."""


@dataclass(frozen=True)
class Resources:
    """HostConfig's cgroup fields. Zero means "not set" except where noted."""

    memory: int = 0
    memory_swap: int = 0
    """Memory plus swap; -1 unlimited; 0 unset (twice ``memory`` on create, as dockerd)."""
    memory_reservation: int = 0
    oom_kill_disable: bool | None = None
    cpu_shares: int = 0
    nano_cpus: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    """Microseconds per period; -1 or 0 means no quota."""
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int | None = None
    """None: not set; 0 or -1: unlimited (Docker's convention)."""
    blkio_weight: int = 0
    blkio_device_read_bps: tuple[ThrottleDevice, ...] = ()
    blkio_device_write_bps: tuple[ThrottleDevice, ...] = ()
    blkio_device_read_iops: tuple[ThrottleDevice, ...] = ()
    blkio_device_write_iops: tuple[ThrottleDevice, ...] = ()

    @property
    def throttles(self) -> tuple[tuple[str, tuple[ThrottleDevice, ...]], ...]:
        """(kind, devices) for each throttle list; kind is read_bps, write_bps, ..."""
        return (
            ("read_bps", self.blkio_device_read_bps),
            ("write_bps", self.blkio_device_write_bps),
            ("read_iops", self.blkio_device_read_iops),
            ("write_iops", self.blkio_device_write_iops),
        )

    def cfs(self) -> tuple[int, int]:
        """(period, quota) in microseconds to write; quota -1 is unlimited.

        NanoCpus becomes a quota over the default 100 ms period, as runc does.
        """
        if self.nano_cpus > 0:
            period = 100_000
            return period, self.nano_cpus * period // 1_000_000_000
        return self.cpu_period, self.cpu_quota if self.cpu_quota > 0 else -1


@dataclass(frozen=True)
class Capabilities:
    """What the active cgroup driver can enforce on this host (dockerd's sysinfo)."""

    memory_limit: bool = True
    swap_limit: bool = True
    memory_reservation: bool = True
    oom_kill_disable: bool = True
    pids_limit: bool = True
    cpu_shares: bool = True
    cpu_cfs: bool = True
    cpuset: bool = True
    blkio_weight: bool = True
    blkio_read_bps: bool = True
    blkio_write_bps: bool = True
    blkio_read_iops: bool = True
    blkio_write_iops: bool = True
    cpus: str = "0"
    """CPUs the cpuset may use, e.g. ``0-1`` (the root cpuset)."""
    mems: str = "0"
    """Memory nodes the cpuset may use."""
    num_cpus: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    """CPUs this process may run on: the ceiling for ``--cpus`` (Go's runtime.NumCPU)."""


@dataclass(frozen=True)
class Checked:
    """Resources after validation: what is applied, and dockerd's warnings."""

    resources: Resources
    warnings: tuple[str, ...] = ()


def parse_list(text: str) -> set[int]:
    """``0-2,5`` → {0, 1, 2, 5}; ValueError on anything else (moby's ParseUintList)."""
    found: set[int] = set()
    if not text:
        return found
    for part in text.split(","):
        low, sep, high = part.partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            raise ValueError(f"invalid format: {text}")
        start, end = int(low), int(high) if sep else int(low)
        if end < start:
            raise ValueError(f"invalid range format: {part}")
        found.update(range(start, end + 1))
    return found


def _check_set(kind: str, requested: str, available: str, noun: str) -> None:
    try:
        wanted = parse_list(requested)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid value {requested} for cpuset {kind}: {exc}") from None
    if not wanted <= parse_list(available):
        raise InvalidArgument(
            f"Requested {noun} are not available - requested {requested}, available: {available}"
        )


def check(res: Resources, caps: Capabilities, *, update: bool = False) -> Checked:
    """Validate ``res`` as dockerd does; raise InvalidArgument with its wording.

    Returns the resources to apply (unsupported limits dropped) and warnings.
    """
    w: list[str] = []
    if res.memory != 0 and res.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if res.memory > 0 and not caps.memory_limit:
        w.append("Your kernel does not support memory limit capabilities or the cgroup is "
                 "not mounted. Limitation discarded.")
        res = replace(res, memory=0, memory_swap=UNLIMITED_SWAP)
    if res.memory > 0 and res.memory_swap != UNLIMITED_SWAP and not caps.swap_limit:
        w.append("Your kernel does not support swap limit capabilities or the cgroup is not "
                 "mounted. Memory limited without swap.")
        res = replace(res, memory_swap=UNLIMITED_SWAP)
    if res.memory > 0 and res.memory_swap > 0 and res.memory_swap < res.memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage")
    if res.memory == 0 and res.memory_swap > 0 and not update:
        raise InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage")
    if res.memory_reservation > 0 and not caps.memory_reservation:
        w.append("Your kernel does not support memory soft limit capabilities or the cgroup "
                 "is not mounted. Limitation discarded.")
        res = replace(res, memory_reservation=0)
    if 0 < res.memory_reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if res.memory > 0 and res.memory_reservation > 0 and res.memory < res.memory_reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage")
    if res.oom_kill_disable is not None and not caps.oom_kill_disable:
        if res.oom_kill_disable:
            w.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
        res = replace(res, oom_kill_disable=None)
    if res.oom_kill_disable and res.memory == 0:
        w.append("OOM killer is disabled for the container, but no memory limit is set, this "
                 "can result in the system running out of resources.")
    if res.pids_limit is not None and not caps.pids_limit:
        if res.pids_limit > 0:
            w.append("Your kernel does not support PIDs limit capabilities or the cgroup is "
                     "not mounted. PIDs limit discarded.")
        res = replace(res, pids_limit=None)

    if res.nano_cpus > 0 and res.cpu_period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if res.nano_cpus > 0 and res.cpu_quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if res.nano_cpus > 0 and not caps.cpu_cfs:
        raise InvalidArgument("NanoCPUs can not be set, as your kernel does not support CPU CFS "
                              "scheduler or the cgroup is not mounted")
    if res.nano_cpus != 0 and not 0 < res.nano_cpus <= caps.num_cpus * 1_000_000_000:
        n = caps.num_cpus
        raise InvalidArgument(
            f"range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available")
    if res.cpu_shares > 0 and not caps.cpu_shares:
        w.append("Your kernel does not support CPU shares or the cgroup is not mounted. "
                 "Shares discarded.")
        res = replace(res, cpu_shares=0)
    if (res.cpu_period != 0 or res.cpu_quota != 0) and not caps.cpu_cfs:
        w.append("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
        res = replace(res, cpu_period=0, cpu_quota=0)
    if res.cpu_period != 0 and not 1000 <= res.cpu_period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                              "than 1s (i.e. 1000000)")
    if 0 < res.cpu_quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")

    if (res.cpuset_cpus or res.cpuset_mems) and not caps.cpuset:
        w.append("Your kernel does not support cpuset or the cgroup is not mounted. "
                 "Cpuset discarded.")
        res = replace(res, cpuset_cpus="", cpuset_mems="")
    _check_set("cpus", res.cpuset_cpus, caps.cpus, "CPUs")
    _check_set("mems", res.cpuset_mems, caps.mems, "memory nodes")

    if res.blkio_weight > 0 and not caps.blkio_weight:
        w.append("Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                 "Weight discarded.")
        res = replace(res, blkio_weight=0)
    if res.blkio_weight > 0 and not 10 <= res.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    res = _drop_unsupported_throttles(res, caps, w)
    return Checked(res, tuple(w))


def _drop_unsupported_throttles(res: Resources, caps: Capabilities, w: list[str]) -> Resources:
    if res.blkio_device_read_bps and not caps.blkio_read_bps:
        w.append("Your kernel does not support BPS Block I/O read limit or the cgroup is not "
                 "mounted. Block I/O BPS read limit discarded.")
        res = replace(res, blkio_device_read_bps=())
    if res.blkio_device_write_bps and not caps.blkio_write_bps:
        w.append("Your kernel does not support BPS Block I/O write limit or the cgroup is not "
                 "mounted. Block I/O BPS write limit discarded.")
        res = replace(res, blkio_device_write_bps=())
    if res.blkio_device_read_iops and not caps.blkio_read_iops:
        w.append("Your kernel does not support IOPS Block read limit or the cgroup is not "
                 "mounted. Block I/O IOPS read limit discarded.")
        res = replace(res, blkio_device_read_iops=())
    if res.blkio_device_write_iops and not caps.blkio_write_iops:
        w.append("Your kernel does not support IOPS Block write limit or the cgroup is not "
                 "mounted. Block I/O IOPS write limit discarded.")
        res = replace(res, blkio_device_write_iops=())
    return res


def with_create_defaults(res: Resources, caps: Capabilities) -> Resources:
    """dockerd's create-time default: swap = 2 * memory when only memory is set."""
    if res.memory > 0 and res.memory_swap == 0 and caps.swap_limit:
        return replace(res, memory_swap=2 * res.memory)
    return res


def merge_update(current: Resources, change: Resources) -> Resources:
    """Apply ``docker update``'s fields to ``current``: zero (or None) leaves a value as is.

    Refuses, as dockerd does, a memory limit above the swap limit already set
    when no new swap limit comes with it.
    """
    if (change.memory and not change.memory_swap and current.memory_swap > 0
            and change.memory > current.memory_swap):
        raise InvalidArgument("Memory limit should be smaller than already set memoryswap "
                              "limit, update the memoryswap at the same time")
    merged = current
    for name in ("memory", "memory_swap", "memory_reservation", "cpu_shares", "nano_cpus",
                 "cpu_period", "cpu_quota", "cpuset_cpus", "cpuset_mems", "blkio_weight"):
        value = getattr(change, name)
        if value:
            merged = replace(merged, **{name: value})
    # NanoCpus and an explicit period/quota exclude each other: setting one clears the other.
    if change.nano_cpus:
        merged = replace(merged, cpu_period=0, cpu_quota=0)
    elif change.cpu_period or change.cpu_quota:
        merged = replace(merged, nano_cpus=0)
    if change.pids_limit is not None:
        merged = replace(merged, pids_limit=change.pids_limit)
    if change.blkio_device_read_bps:
        merged = replace(merged, blkio_device_read_bps=change.blkio_device_read_bps)
    if change.blkio_device_write_bps:
        merged = replace(merged, blkio_device_write_bps=change.blkio_device_write_bps)
    if change.blkio_device_read_iops:
        merged = replace(merged, blkio_device_read_iops=change.blkio_device_read_iops)
    if change.blkio_device_write_iops:
        merged = replace(merged, blkio_device_write_iops=change.blkio_device_write_iops)
    return merged


def resolve_devices(res: Resources) -> Resources:
    """Fill in major:minor of every throttled device from its node (``/dev/vda`` → 254:0)."""
    def resolve(devices: tuple[ThrottleDevice, ...]) -> tuple[ThrottleDevice, ...]:
        out = []
        for dev in devices:
            if dev.major >= 0:
                out.append(dev)
                continue
            try:
                st = Path(dev.path).stat()
            except OSError as exc:
                raise InvalidArgument(
                    f"stat {dev.path}: {(exc.strerror or str(exc)).lower()}") from None
            if not stat.S_ISBLK(st.st_mode):
                raise InvalidArgument(f"{dev.path} is not a block device")
            out.append(replace(dev, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev)))
        return tuple(out)

    return replace(
        res,
        blkio_device_read_bps=resolve(res.blkio_device_read_bps),
        blkio_device_write_bps=resolve(res.blkio_device_write_bps),
        blkio_device_read_iops=resolve(res.blkio_device_read_iops),
        blkio_device_write_iops=resolve(res.blkio_device_write_iops),
    )

"""One statistics sample of a container's cgroup, in the shape of Docker's stats JSON.

The parsers here are pure (text in, numbers out) so both drivers share them and
unit tests feed them captured cgroupfs files. The gateway renders samples as
Docker's stats JSON (gateway/containers/stats_views.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

NS_PER_S = 1_000_000_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class BlkioEntry:
    """One line of blkio accounting: device, operation ("Read", "write", "Total"...), value."""

    major: int
    minor: int
    op: str
    value: int


@dataclass(frozen=True)
class CpuStats:
    total_usage: int = 0
    """Nanoseconds of CPU the cgroup used since it was made."""
    percpu_usage: tuple[int, ...] = ()
    """Per-CPU nanoseconds (cgroup v1 only; empty on v2, as dockerd)."""
    usage_in_kernelmode: int = 0
    usage_in_usermode: int = 0
    system_cpu_usage: int = 0
    """Nanoseconds every CPU of the host spent, from /proc/stat."""
    online_cpus: int = 0
    periods: int = 0
    throttled_periods: int = 0
    throttled_time: int = 0


@dataclass(frozen=True)
class MemoryStats:
    usage: int = 0
    max_usage: int = 0
    """Peak usage (v1 memory.max_usage_in_bytes; v2 memory.peak when the kernel has it)."""
    failcnt: int = 0
    limit: int = 0
    """The limit, or the host's memory when the cgroup has none (as dockerd reports)."""
    stats: Mapping[str, int] = field(default_factory=dict)
    """memory.stat as the kernel writes it: v1 keys (cache, rss ...) or v2 (anon, file ...)."""


@dataclass(frozen=True)
class PidsStats:
    current: int = 0
    limit: int = 0
    """0 when unlimited."""


@dataclass(frozen=True)
class BlkioStats:
    io_service_bytes_recursive: tuple[BlkioEntry, ...] = ()
    io_serviced_recursive: tuple[BlkioEntry, ...] = ()


@dataclass(frozen=True)
class StatsSample:
    """Everything one read of a container's cgroup yields."""

    read_ns: int
    """Wall-clock time of the read, nanoseconds since the epoch."""
    cpu: CpuStats
    memory: MemoryStats
    pids: PidsStats
    blkio: BlkioStats


# ---- parsers ------------------------------------------------------------------------


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, memory.events) → {key: value}."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        value = value.strip()
        if key and value.lstrip("-").isdigit():
            out[key] = int(value)
    return out


def parse_limit(text: str) -> int:
    """A v2 limit file: ``max`` → 0 (unlimited), else the number."""
    text = text.strip()
    return 0 if text in ("", "max") else int(text)


def parse_percpu(text: str) -> tuple[int, ...]:
    """cpuacct.usage_percpu: space-separated nanoseconds per CPU."""
    return tuple(int(v) for v in text.split())


def ticks_to_ns(ticks: int) -> int:
    return ticks * NS_PER_S // CLOCK_TICKS


def system_cpu_usage(proc_stat: str) -> int:
    """Host CPU time in ns: the first ``cpu`` line of /proc/stat, summed as dockerd does.

    dockerd adds user, nice, system, idle, iowait, irq and softirq (not steal
    or guest) and converts clock ticks to nanoseconds.
    """
    for line in proc_stat.splitlines():
        if line.startswith("cpu "):
            fields = [int(v) for v in line.split()[1:8]]
            return ticks_to_ns(sum(fields))
    return 0


def parse_v1_blkio(text: str) -> tuple[BlkioEntry, ...]:
    """blkio.throttle.io_service_bytes_recursive: ``MAJ:MIN Op value`` lines; ``Total`` dropped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        out.append(BlkioEntry(int(major), int(minor), parts[1], int(parts[2])))
    return tuple(out)


def parse_v2_io_stat(text: str) -> tuple[tuple[BlkioEntry, ...], tuple[BlkioEntry, ...]]:
    """io.stat → (bytes, ios) entries with lower-case ops "read"/"write", as dockerd on v2."""
    service_bytes: list[BlkioEntry] = []
    serviced: list[BlkioEntry] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        values = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, into, op in (("rbytes", service_bytes, "read"), ("wbytes", service_bytes, "write"),
                              ("rios", serviced, "read"), ("wios", serviced, "write")):
            if key in values:
                into.append(BlkioEntry(int(major), int(minor), op, int(values[key])))
    return tuple(service_bytes), tuple(serviced)

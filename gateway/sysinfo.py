"""Facts about the host the gateway runs on, as ``docker info`` reports them.

Static facts are read once at start-up (:func:`read_host_facts`); the few that
change (open fds, time) are cheap calls made per request.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# Go's GOARCH names, which Docker uses for "Arch" in /version and image platforms.
_GO_ARCH = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}


@dataclass(frozen=True)
class HostFacts:
    kernel_version: str
    operating_system: str
    os_version: str
    machine: str
    """``uname -m``, e.g. ``x86_64``: what ``Architecture`` in /info shows."""
    go_arch: str
    """Docker's name for the same, e.g. ``amd64``: what ``Arch`` in /version shows."""
    ncpu: int
    mem_total: int


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of os-release(5), quotes removed."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip("\"'")
    return values


def parse_mem_total(meminfo: str) -> int:
    """``MemTotal`` of /proc/meminfo, in bytes (the file counts KiB)."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def go_arch(machine: str) -> str:
    return _GO_ARCH.get(machine, machine)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def read_host_facts(
    os_release: Path = Path("/etc/os-release"), meminfo: Path = Path("/proc/meminfo")
) -> HostFacts:
    release = parse_os_release(_read(os_release) or _read(Path("/usr/lib/os-release")))
    machine = platform.machine()
    return HostFacts(
        kernel_version=platform.release(),
        operating_system=release.get("PRETTY_NAME", "Linux"),
        os_version=release.get("VERSION_ID", ""),
        machine=machine,
        go_arch=go_arch(machine),
        ncpu=os.cpu_count() or 1,
        mem_total=parse_mem_total(_read(meminfo)),
    )


def hostname() -> str:
    return socket.gethostname()


def open_fds() -> int:
    try:
        return sum(1 for _ in Path("/proc/self/fd").iterdir())
    except OSError:
        return 0


def rfc3339_nano(when: datetime, nanos: int) -> str:
    """Go's ``time.RFC3339Nano``: trailing zeros of the fraction dropped, ``Z`` for UTC."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    if fraction:
        stamp += "." + fraction
    offset = when.utcoffset()
    if offset is None or not offset:
        return stamp + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{stamp}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def system_time() -> str:
    """The host's local time now, as dockerd formats ``SystemTime``."""
    ns = time.time_ns()
    when = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    return rfc3339_nano(when, ns % 1_000_000_000)

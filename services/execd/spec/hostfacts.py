"""The facts about the host that change what dockerd puts in a spec.

Detected once per process (they do not change under a running service) and
injectable, so unit tests can build the spec of a cgroup v2 host on a v1 one.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

# Go's GOARCH names, which the seccomp profile's "arches" use, by uname machine.
_MACHINE_TO_GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64",
    "mips64el": "mips64le",
}


@dataclass(frozen=True)
class HostFacts:
    # cgroup v2 (unified) hosts get a private cgroup namespace by default.
    cgroup2: bool = False
    # (major, minor) of the running kernel, for the seccomp profile's minKernel.
    kernel: tuple[int, int] = (6, 1)
    # Native (Go) architecture name: amd64, arm64, ...
    arch: str = "amd64"
    # /proc/sys/kernel/cap_last_cap: the capabilities this kernel knows.
    last_cap: int = 40
    # The capability bounding set Dockyard itself runs with (CapBnd of
    # /proc/self/status; -1: all). A privileged container gets no capability
    # outside it, as with dockerd (moby#42933): runc could not grant it.
    bounding_set: int = -1
    # dockerd sets these sysctls only where the kernel has them.
    has_ping_group_range: bool = True
    has_unprivileged_port_start: bool = True
    # The host's name, which containers on the host network get.
    hostname: str = "localhost"


def parse_kernel_release(release: str) -> tuple[int, int]:
    """``6.1.0-18-amd64`` → (6, 1); anything unparsable → (0, 0)."""
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _read_int(path: Path, default: int) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return default


def read_bounding_set(status: Path = Path("/proc/self/status")) -> int:
    """The CapBnd mask of ``status``; -1 (every capability) when it cannot be read."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return -1


@functools.cache
def detect() -> HostFacts:
    uname = os.uname()
    return HostFacts(
        cgroup2=Path("/sys/fs/cgroup/cgroup.controllers").exists(),
        kernel=parse_kernel_release(uname.release),
        arch=_MACHINE_TO_GOARCH.get(platform.machine(), platform.machine()),
        last_cap=_read_int(Path("/proc/sys/kernel/cap_last_cap"), 40),
        bounding_set=read_bounding_set(),
        has_ping_group_range=Path("/proc/sys/net/ipv4/ping_group_range").exists(),
        has_unprivileged_port_start=Path(
            "/proc/sys/net/ipv4/ip_unprivileged_port_start"
        ).exists(),
        hostname=uname.nodename,
    )

"""Sysctls and rlimits of a container.

Sysctls are checked as runc checks them before it starts anything (a refused
one fails ``docker start`` with runc's message): only namespaced ones, the IPC
ones only with an IPC namespace of the container's own, ``net.*`` only outside
the host's network namespace. dockerd adds two harmless network sysctls to a
container with its own network namespace.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from services.common.errors import InvalidArgument
from services.execd.spec.hostfacts import HostFacts

IPC_SYSCTLS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})

# go-units' ulimit names; the OCI type is RLIMIT_<NAME>.
ULIMIT_NAMES = frozenset({
    "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
    "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
})
RLIM_INFINITY = 2**64 - 1


def default_sysctls(network_private: bool, host: HostFacts) -> dict[str, str]:
    """What dockerd sets in a container's own network namespace, where the kernel has it."""
    sysctls: dict[str, str] = {}
    if network_private:
        if host.has_ping_group_range:
            # Unprivileged ICMP echo sockets, so ping works without CAP_NET_RAW.
            sysctls["net.ipv4.ping_group_range"] = "0 2147483647"
        if host.has_unprivileged_port_start:
            # Ports below 1024 without CAP_NET_BIND_SERVICE.
            sysctls["net.ipv4.ip_unprivileged_port_start"] = "0"
    return sysctls


def check_sysctls(
    sysctls: Mapping[str, str], *, own_ipc: bool, host_network: bool, own_uts: bool
) -> None:
    for name in sysctls:
        quoted = json.dumps(name)
        if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if not own_ipc:
                raise InvalidArgument(f"sysctl {quoted} is not allowed in the hosts ipc namespace")
            continue
        if name.startswith("net."):
            if host_network:
                raise InvalidArgument(f"sysctl {quoted} not allowed in host network namespace")
            continue
        if own_uts:
            if name == "kernel.domainname":
                continue
            if name == "kernel.hostname":
                raise InvalidArgument(
                    f'sysctl {quoted} is not allowed as it conflicts with the OCI "hostname" field'
                )
        raise InvalidArgument(f"sysctl {quoted} is not in a separate kernel namespace")


def _ulimit_value(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid ulimit argument: {value}") from None
    # -1 is "unlimited"; Go's uint64 conversion makes it RLIM_INFINITY.
    return number % 2**64


def _rlimit(entry: Mapping[str, Any]) -> dict[str, Any]:
    name = str(entry.get("Name") or "")
    if name not in ULIMIT_NAMES:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    soft, hard = entry.get("Soft", 0), entry.get("Hard", 0)
    if int(soft) >= 0 and int(hard) >= 0 and int(soft) > int(hard):
        raise InvalidArgument(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return {"type": "RLIMIT_" + name.upper(), "hard": _ulimit_value(hard),
            "soft": _ulimit_value(soft)}


def build_rlimits(
    ulimits: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """HostConfig.Ulimits, then the daemon's default-ulimits for the names not set."""
    rlimits = [_rlimit(entry) for entry in ulimits]
    named = {str(entry.get("Name") or "") for entry in ulimits}
    for name in sorted(defaults):
        if name in named:
            continue
        value = defaults[name]
        entry = dict(value) if isinstance(value, Mapping) else {}
        entry.setdefault("Name", name)
        rlimits.append(_rlimit(entry))
    return rlimits

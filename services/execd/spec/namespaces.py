"""The container's namespaces from NetworkMode, PidMode, IpcMode, UTSMode and CgroupnsMode."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument


@dataclass(frozen=True)
class NamespaceModes:
    network_mode: str
    pid_mode: str
    ipc_mode: str
    uts_mode: str
    cgroupns_mode: str

    @property
    def network_host(self) -> bool:
        return self.network_mode == "host"

    @property
    def network_private(self) -> bool:
        """A network namespace of its own (moby's NetworkMode.IsPrivate)."""
        return not (self.network_host or self.network_mode.startswith("container:"))

    @property
    def pid_private(self) -> bool:
        return self.pid_mode == ""

    @property
    def ipc_host(self) -> bool:
        return self.ipc_mode == "host"

    @property
    def ipc_none(self) -> bool:
        return self.ipc_mode == "none"

    @property
    def uts_host(self) -> bool:
        return self.uts_mode == "host"


def _container_ref(mode: str) -> str | None:
    """The container of ``container:<name|id>``; "" when the name is missing."""
    if not mode.startswith("container:"):
        return None
    return mode.partition(":")[2]


def parse_modes(
    host_config: Mapping[str, Any], network_mode: str, cgroup2: bool
) -> NamespaceModes:
    pid = str(host_config.get("PidMode") or "")
    if not (pid in ("", "host") or _container_ref(pid)):
        raise InvalidArgument(f"invalid PID mode: {pid}")
    ipc = str(host_config.get("IpcMode") or "")
    if not (ipc in ("", "private", "shareable", "none", "host") or _container_ref(ipc)):
        raise InvalidArgument(f"invalid IPC mode: {ipc}")
    uts = str(host_config.get("UTSMode") or "")
    if not (uts in ("", "host") or _container_ref(uts)):
        raise InvalidArgument(f"invalid UTS mode: {uts}")
    cgroupns = str(host_config.get("CgroupnsMode") or "")
    if cgroupns not in ("", "private", "host"):
        raise InvalidArgument(f"invalid cgroup namespace mode: {cgroupns}")
    if not cgroupns:
        # dockerd's default: private on a v2 host (even privileged), host on v1.
        cgroupns = "private" if cgroup2 else "host"
    return NamespaceModes(network_mode or "bridge", pid, ipc, uts, cgroupns)


def build_namespaces(
    modes: NamespaceModes,
    *,
    netns_path: str,
    pid_path: str,
    ipc_path: str,
    uts_path: str,
) -> list[dict[str, str]]:
    """In dockerd's order: mount, network, uts, pid, ipc, then cgroup when private."""

    def joined(kind: str, mode: str, path: str) -> dict[str, str]:
        if not path:
            raise InvalidArgument(
                f"{kind} namespace of {mode} is not known: is that container running?"
            )
        return {"type": kind, "path": path}

    namespaces: list[dict[str, str]] = [{"type": "mount"}]
    if netns_path:
        namespaces.append({"type": "network", "path": netns_path})
    elif not modes.network_host:
        namespaces.append({"type": "network"})
    if _container_ref(modes.uts_mode):
        namespaces.append(joined("uts", modes.uts_mode, uts_path))
    elif not modes.uts_host:
        namespaces.append({"type": "uts"})
    if _container_ref(modes.pid_mode):
        namespaces.append(joined("pid", modes.pid_mode, pid_path))
    elif modes.pid_mode != "host":
        namespaces.append({"type": "pid"})
    if _container_ref(modes.ipc_mode):
        namespaces.append(joined("ipc", modes.ipc_mode, ipc_path))
    elif not modes.ipc_host:
        namespaces.append({"type": "ipc"})
    if modes.cgroupns_mode == "private":
        namespaces.append({"type": "cgroup"})
    return namespaces

"""Checks run before anything is started, each failing with one clear message."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from services.common.config import DaemonConfig, parse_tcp_address
from services.common.errors import Conflict, DockyardError, Unavailable

# binary → the Debian package that provides it.
PACKAGES: dict[str, str] = {
    "etcd": "etcd-server",
    "runc": "runc",
    "conmon": "conmon",
    "iptables": "iptables",
    "setpriv": "util-linux",
}
# Root's PATH has the sbin directories, a sudo'ed user's may not: look there too.
_EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class PermissionDenied(DockyardError):
    """The launcher lacks a privilege it needs."""


def require_root(command: str) -> None:
    if os.geteuid() != 0:
        raise PermissionDenied(f"dockyard {command} must be run as root")


def needed_binaries(config: DaemonConfig) -> list[str]:
    names = ["runc", "conmon", "setpriv"]
    if not config.etcd_endpoints:
        names.insert(0, "etcd")
    if config.iptables:
        names.append("iptables")
    return names


def missing_binaries(config: DaemonConfig, search_path: str | None = None) -> list[str]:
    """The needed binaries not found on ``search_path`` (default: $PATH plus sbin dirs)."""
    if search_path is None:
        search_path = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_PATH])
    missing = []
    for name in needed_binaries(config):
        found = shutil.which(name, path=search_path)
        if name == "etcd" and found is None and os.access("/usr/bin/etcd", os.X_OK):
            found = "/usr/bin/etcd"
        if found is None:
            missing.append(name)
    return missing


def require_binaries(config: DaemonConfig) -> None:
    missing = missing_binaries(config)
    if missing:
        name = missing[0]
        raise Unavailable(
            f"{name} not found: install the Debian package {PACKAGES[name]} "
            f"(apt-get install {' '.join(PACKAGES[m] for m in missing)})"
        )


def _answers(family: int, address: str | tuple[str, int]) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


def claim_hosts(hosts: tuple[str, ...]) -> None:
    """Refuse hosts a live daemon answers on; remove stale unix socket files."""
    for host in hosts:
        if host.startswith("unix://"):
            path = Path(host[len("unix://") :])
            if not path.exists() and not path.is_symlink():
                continue
            if not path.is_socket():
                raise Conflict(f"cannot listen on {host}: {path} exists and is not a socket")
            if _answers(socket.AF_UNIX, str(path)):
                raise Conflict(f"cannot listen on {host}: a daemon is already running on it")
            path.unlink()  # stale: left by a daemon that died
        elif host.startswith("tcp://"):
            addr, port = parse_tcp_address(host[len("tcp://") :], what="host")
            probe_addr = "127.0.0.1" if addr in ("0.0.0.0", "") else addr
            family = socket.AF_INET6 if ":" in probe_addr else socket.AF_INET
            if _answers(family, (probe_addr, port)):
                raise Conflict(f"cannot listen on {host}: the address is already in use")

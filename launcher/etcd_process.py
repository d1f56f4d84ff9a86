"""The embedded etcd: its command line, its ports, and how to read its errors.

etcd listens on 127.0.0.1 only, on ports picked at the first ``up`` and kept in
``<data-root>/etcd-ports.json`` so that a restarted cluster comes back on the
same endpoints when they are free. A single-member etcd 3.4 also restarts fine
on other ports (its data directory wins over the ``--initial-*`` flags), which
is the fallback when another process took them meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ETCD_BINARY = "/usr/bin/etcd"
MEMBER_NAME = "dockyard"
QUOTA_BYTES = 2 * 1024**3
PORTS_FILE = "etcd-ports.json"


@dataclass(frozen=True)
class EtcdPorts:
    client: int
    peer: int

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer}"


def find_binary() -> str | None:
    """The etcd executable, preferring Debian's etcd-server location."""
    return ETCD_BINARY if os.access(ETCD_BINARY, os.X_OK) else shutil.which("etcd")


def _port_free(port: int) -> bool:
    # SO_REUSEADDR as etcd (Go) sets it: a port in TIME_WAIT is usable.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _fresh_ports() -> EtcdPorts:
    # Bind both at once so the kernel hands out two different ports.
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return EtcdPorts(client=a.getsockname()[1], peer=b.getsockname()[1])


def choose_ports(data_root: Path) -> EtcdPorts:
    """The ports of the last run when both are still free, else new ones (and remember them)."""
    path = data_root / PORTS_FILE
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        saved = json.loads(path.read_text())
        ports = EtcdPorts(client=int(saved["client"]), peer=int(saved["peer"]))
        if _port_free(ports.client) and _port_free(ports.peer):
            return ports
    ports = _fresh_ports()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"client": ports.client, "peer": ports.peer}) + "\n")
    return ports


def etcd_argv(binary: str, data_dir: Path, ports: EtcdPorts) -> list[str]:
    """etcd's command line for a one-member cluster private to this Dockyard."""
    return [
        binary,
        f"--name={MEMBER_NAME}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={ports.client_url}",
        f"--advertise-client-urls={ports.client_url}",
        f"--listen-peer-urls={ports.peer_url}",
        f"--initial-advertise-peer-urls={ports.peer_url}",
        f"--initial-cluster={MEMBER_NAME}={ports.peer_url}",
        "--initial-cluster-state=new",
        f"--quota-backend-bytes={QUOTA_BYTES}",
        # Events and superseded records would otherwise keep every old revision.
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
        "--logger=zap",
        "--log-level=warn",
    ]


def etcd_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without ETCD_* variables: etcd refuses to start when one shadows a flag."""
    return {k: v for k, v in environ.items() if not k.startswith("ETCD_")}


def summarize_log(lines: Iterable[str]) -> str:
    """etcd's zap JSON lines as ``msg: error`` text, the part a user needs to read."""
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            text = str(entry.get("msg", ""))
            if "error" in entry:
                text += f": {entry['error']}"
            out.append(text)
        elif line.strip():
            out.append(line.strip())
    return "; ".join(out[-5:])

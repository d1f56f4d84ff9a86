"""Where each gRPC service listens and is reached.

By default a service listens on a unix socket under the exec-root. daemon.json
``services.<name>.address`` moves it: ``unix:/abs/path`` or a loopback
``host:port`` (other platforms on the same host then dial it over TCP).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from services.common.config import DaemonConfig, parse_tcp_address
from services.common.errors import InvalidArgument
from services.common.paths import ClusterPaths


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(name: str, address: str) -> str:
    """Validate a configured service address; return it unchanged."""
    if address.startswith("unix:"):
        if not address[len("unix:") :].lstrip("/") or not address.startswith("unix:/"):
            raise InvalidArgument(f"invalid services.{name}.address {address!r}: path required")
        return address
    host, _ = parse_tcp_address(address, what=f"services.{name}")
    if not _is_loopback(host):
        raise InvalidArgument(
            f"invalid services.{name}.address {address!r}: only loopback TCP addresses are "
            "allowed until mutual TLS between nodes is configured"
        )
    return address


def service_address(config: DaemonConfig, name: str) -> str:
    """The gRPC target of service ``name`` in this cluster."""
    settings = config.services.get(name) or {}
    address = settings.get("address", "")
    if address:
        return check_address(name, str(address))
    return ClusterPaths(Path(config.data_root), Path(config.exec_root)).service_target(name)


def unix_socket_path(address: str) -> Path | None:
    """The socket file behind a ``unix:`` target, or None for TCP."""
    if not address.startswith("unix:"):
        return None
    return Path("/" + address[len("unix:") :].lstrip("/"))

"""The sockets the Engine API listens on, with dockerd's security floor.

Unix sockets are mode 0660, group ``docker`` (or the configured group) when it
exists. TCP is served in the clear only on loopback; any other address needs
``tlsverify`` with a CA, a certificate and a key, so that only clients holding
a certificate from that CA reach an API that is root on the host.
"""

from __future__ import annotations

import contextlib
import grp
import ipaddress
import os
import socket
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from services.common.config import DaemonConfig, parse_tcp_address
from services.common.errors import InvalidArgument, Unavailable

SOCKET_MODE = 0o660
BACKLOG = 1024


@dataclass(frozen=True)
class UnixListener:
    host: str
    path: Path


@dataclass(frozen=True)
class TcpListener:
    host: str
    address: str
    port: int
    ssl_context: ssl.SSLContext | None


Listener = UnixListener | TcpListener


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def tls_context(config: DaemonConfig) -> ssl.SSLContext:
    """Server TLS; with ``tlsverify``, clients must present a cert signed by ``tlscacert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tlscert, config.tlskey)
        if config.tlsverify:
            context.load_verify_locations(cafile=config.tlscacert)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"could not load TLS certificates: {exc}") from None
    return context


def plan_listeners(config: DaemonConfig) -> list[Listener]:
    """Check every host before binding any, so a refused one starts nothing."""
    listeners: list[Listener] = []
    use_tls = config.tls or config.tlsverify
    for host in config.hosts:
        if host.startswith("unix://"):
            listeners.append(UnixListener(host, Path(host[len("unix://"):])))
            continue
        address, port = parse_tcp_address(host[len("tcp://"):], what="host")
        if not is_loopback(address) and not config.tlsverify:
            raise InvalidArgument(
                f"refusing to listen on {host} without --tlsverify: a non-loopback address "
                "would give root on this host to anyone who can reach it; set tlsverify, "
                "tlscacert, tlscert and tlskey, or listen on 127.0.0.1"
            )
        context = None
        if use_tls:
            needed = ("tlscacert", "tlscert", "tlskey") if config.tlsverify else (
                "tlscert", "tlskey")
            absent = [name for name in needed if not getattr(config, name)]
            if absent:
                raise InvalidArgument(
                    f"refusing to listen on {host}: TLS needs {', '.join(absent)} to be set"
                )
            context = tls_context(config)
        listeners.append(TcpListener(host, address, port, context))
    return listeners


def _claim_path(path: Path) -> None:
    """Remove a stale socket; refuse when a live server still answers on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise InvalidArgument(f"{path} exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
            return
    raise Unavailable(f"{path} is in use by a running server")


def _socket_group(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def bind_unix(listener: UnixListener, group: str) -> socket.socket:
    """A listening unix socket with its mode and group set before it accepts anyone."""
    _claim_path(listener.path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(listener.path))
        os.chmod(listener.path, SOCKET_MODE)  # noqa: PTH101 - chmod of a socket, not a file
        gid = _socket_group(group) if group else None
        if gid is not None:
            os.chown(listener.path, 0, gid)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def socket_identity(path: Path) -> tuple[int, int, int]:
    """Which file ``path`` is: inode numbers get reused, so the change time counts too."""
    st = path.lstat()
    return st.st_dev, st.st_ino, st.st_ctime_ns


def remove_unix(path: Path, identity: tuple[int, int, int]) -> None:
    """Unlink our socket file on shutdown, unless another server has replaced it since."""
    with contextlib.suppress(OSError):
        if socket_identity(path) == identity:
            path.unlink()

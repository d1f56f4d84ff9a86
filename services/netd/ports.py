"""Host ports of published container ports: chosen, checked and held by netd.

Traffic to a published port never passes through netd: the kernel DNATs it
(rules.port_rules). netd still binds a socket on every published host port
(TCP ones listen), so the host port is really taken: another program cannot
start a server on it behind the DNAT's back, and a port some program already
serves is refused at once — what docker-proxy's listen gives dockerd. Sockets
are re-bound by reconcile after a netd restart.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

from services.common.errors import Conflict, InvalidArgument
from services.netd.models import EPHEMERAL_PORTS, PROTOCOLS, PortBinding

ANY = "0.0.0.0"


@dataclass(frozen=True)
class HeldPort:
    protocol: str
    host_ip: str
    host_port: int


def normalise(binding: PortBinding) -> PortBinding:
    """Check one requested binding and fill in Docker's defaults; InvalidArgument if bad."""
    protocol = (binding.protocol or "tcp").lower()
    if protocol not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {binding.protocol}")
    if not 1 <= binding.container_port <= 65535:
        raise InvalidArgument(f"invalid containerPort: {binding.container_port}")
    if not 0 <= binding.host_port <= 65535 or not 0 <= binding.host_port_end <= 65535:
        raise InvalidArgument(f"invalid hostPort: {binding.host_port}")
    if binding.host_port_end and binding.host_port_end < binding.host_port:
        raise InvalidArgument(
            f"invalid hostPort: {binding.host_port}-{binding.host_port_end}")
    host_ip = binding.host_ip or ANY
    try:
        address = ipaddress.ip_address(host_ip)
    except ValueError:
        raise InvalidArgument(f"invalid host IP: {binding.host_ip}") from None
    if address.version != 4:
        raise InvalidArgument(f"invalid host IP {host_ip}: Dockyard publishes on IPv4 only")
    end = binding.host_port_end if binding.host_port_end != binding.host_port else 0
    return PortBinding(binding.container_port, protocol, host_ip, binding.host_port, end)


def _overlaps(a: HeldPort, b: HeldPort) -> bool:
    if a.protocol != b.protocol or a.host_port != b.host_port:
        return False
    return a.host_ip == b.host_ip or ANY in (a.host_ip, b.host_ip)


def _bind(port: HeldPort) -> socket.socket:
    if port.protocol == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    elif port.protocol == "sctp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((port.host_ip, port.host_port))
        if port.protocol != "udp":
            sock.listen(1)
    except BaseException:
        sock.close()
        raise
    return sock


class PortBook:
    """The host ports this netd holds, by owner (container ID)."""

    def __init__(self) -> None:
        self._held: dict[HeldPort, tuple[str, socket.socket]] = {}
        self._next = EPHEMERAL_PORTS[0]

    def owner_of(self, port: HeldPort) -> str | None:
        for held, (owner, _) in self._held.items():
            if _overlaps(held, port):
                return owner
        return None

    def _take(self, owner: str, port: HeldPort) -> None:
        """Hold ``port`` or raise OSError (EADDRINUSE ...) / Conflict."""
        if self.owner_of(port) is not None:
            raise OSError(errno.EADDRINUSE, "allocated by a container")
        self._held[port] = (owner, _bind(port))

    def hold(self, owner: str, binding: PortBinding) -> PortBinding:
        """Hold the binding's host port (choosing one when open); the binding as made.

        Conflict with Docker's wording when the port is taken.
        """
        if binding.host_port and not binding.host_port_end:
            port = HeldPort(binding.protocol, binding.host_ip, binding.host_port)
            self._hold_exact(owner, port)
            return binding
        if binding.host_port:
            candidates = list(range(binding.host_port, binding.host_port_end + 1))
            shown = f"{binding.host_port}-{binding.host_port_end}"
        else:
            low, high = EPHEMERAL_PORTS
            # Round-robin from the last pick, as dockerd's allocator: a port just
            # freed is not handed out again at once.
            start = self._next if low <= self._next <= high else low
            candidates = [*range(start, high + 1), *range(low, start)]
            shown = ""
        for number in candidates:
            port = HeldPort(binding.protocol, binding.host_ip, number)
            try:
                self._take(owner, port)
            except OSError:
                continue
            if not binding.host_port:
                self._next = number + 1
            return PortBinding(binding.container_port, binding.protocol, binding.host_ip,
                               number, 0)
        if shown:
            raise Conflict(f"Bind for {binding.host_ip}:{shown} failed: port is already "
                           "allocated")
        raise Conflict(f"all ports in {EPHEMERAL_PORTS[0]}-{EPHEMERAL_PORTS[1]} are allocated")

    def _hold_exact(self, owner: str, port: HeldPort) -> None:
        if self.owner_of(port) is not None:
            raise Conflict(f"Bind for {port.host_ip}:{port.host_port} failed: port is "
                           "already allocated")
        try:
            self._take(owner, port)
        except OSError as exc:
            family = "tcp4" if port.protocol != "udp" else "udp4"
            reason = {errno.EADDRINUSE: "address already in use",
                      errno.EADDRNOTAVAIL: "cannot assign requested address",
                      errno.EACCES: "permission denied"}.get(exc.errno or 0, str(exc))
            raise Conflict(f"Error starting userland proxy: listen {family} "
                           f"{port.host_ip}:{port.host_port}: bind: {reason}") from None

    def release(self, owner: str) -> None:
        for held, (who, sock) in list(self._held.items()):
            if who == owner:
                sock.close()
                del self._held[held]

    def owners(self) -> set[str]:
        return {owner for owner, _ in self._held.values()}

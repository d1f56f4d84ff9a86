"""The embedded DNS server of user-defined networks (UDP and TCP, asyncio).

Design: dockerd answers on 127.0.0.11 inside each container's namespace,
through sockets it opens in there and iptables DNAT rules in the container's
namespace, all recreated when it restarts. Dockyard listens instead on the
gateway address of every user-defined network, in the host namespace, and
writes that address into the containers' resolv.conf. The container's file
never changes, so a netd restart only has to listen again (reconcile does, for
every user network); there is nothing to rebuild per container, no rule inside
containers, and a container may still run its own server on port 53. The
asker is known by its source address, which is unique across networks, so a
container reaches the resolver through any of its networks' gateways and is
answered with the names of every network it shares with the peer.

Names netd knows are answered from memory (A records, TTL 600, as dockerd);
any other name is forwarded unchanged to the asker's ``--dns`` servers or the
host's, from the host namespace (so a host stub on 127.0.0.53 works too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Coroutine, Sequence
from ipaddress import IPv4Address
from typing import Any, cast

from services.netd import dnswire

log = logging.getLogger(__name__)

DNS_PORT = 53
FORWARD_TIMEOUT = 2.0
IP_FREEBIND = 15
MAX_UDP = 4096

Lookup = Callable[[str, str], "list[IPv4Address] | None"]
"""(asker address, query name) → its addresses, or None when the name is not netd's."""
Upstreams = Callable[[str], Sequence[str]]
"""asker address → the servers to forward other names to ("ip" or "ip:port")."""


def split_server(server: str) -> tuple[str, int]:
    host, sep, port = server.rpartition(":")
    if sep and port.isdigit() and "." in host:
        return host, int(port)
    return server, DNS_PORT


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._resolver.spawn(self._reply(data, addr))

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        response = await self._resolver.handle(data, addr[0], tcp=False)
        if response and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(response, addr)


class Resolver:
    def __init__(self, lookup: Lookup, upstreams: Upstreams, port: int = DNS_PORT) -> None:
        self._lookup = lookup
        self._upstreams = upstreams
        self._port = port
        self._listeners: dict[str, tuple[asyncio.DatagramTransport, asyncio.Server]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def addresses(self) -> set[str]:
        return set(self._listeners)

    def _socket(self, kind: int, address: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, kind)
        try:
            # The bridge may get its address a moment later (reconcile order).
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, self._port))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def listen(self, address: str) -> bool:
        """Answer on ``address`` (UDP and TCP); idempotent. False when it cannot bind."""
        if address in self._listeners:
            return True
        loop = asyncio.get_running_loop()
        try:
            udp = self._socket(socket.SOCK_DGRAM, address)
            tcp = self._socket(socket.SOCK_STREAM, address)
        except OSError as exc:
            log.error("embedded DNS cannot listen",
                      extra={"address": address, "error": str(exc)})
            with contextlib.suppress(UnboundLocalError):
                udp.close()
            return False
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
        server = await asyncio.start_server(self._serve_tcp, sock=tcp)
        self._listeners[address] = (transport, server)
        return True

    async def forget(self, address: str) -> None:
        found = self._listeners.pop(address, None)
        if found is not None:
            transport, server = found
            transport.close()
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def close(self) -> None:
        for address in list(self._listeners):
            await self.forget(address)
        for task in list(self._tasks):
            task.cancel()

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        asker = str(peer[0]) if peer else ""
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                response = await self.handle(await reader.readexactly(size), asker, tcp=True)
                if not response:
                    break
                writer.write(struct.pack("!H", len(response)) + response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def handle(self, data: bytes, asker: str, *, tcp: bool) -> bytes:
        """The answer to one query from ``asker``."""
        try:
            query = dnswire.parse_query(data)
        except dnswire.MalformedQuery:
            return dnswire.error_for_raw(data, dnswire.FORMERR) if len(data) >= 12 else b""
        if query.qclass == dnswire.CLASS_IN and query.name:
            found = self._lookup(asker, query.name)
            if found is not None:
                return dnswire.answer(query, found)
        for server in self._upstreams(asker):
            try:
                return await asyncio.wait_for(self._forward(data, server, tcp),
                                              FORWARD_TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                continue
        return dnswire.error(query, dnswire.SERVFAIL)

    async def _forward(self, data: bytes, server: str, tcp: bool) -> bytes:
        host, port = split_server(server)
        loop = asyncio.get_running_loop()
        if tcp:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(struct.pack("!H", len(data)) + data)
                await writer.drain()
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                return await reader.readexactly(size)
            finally:
                writer.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, port))
            await loop.sock_sendall(sock, data)
            while True:
                reply = await loop.sock_recv(sock, MAX_UDP)
                if reply[:2] == data[:2]:  # the answer to this query, not a stray one
                    return reply

"""Probes of each component's health: gRPC Health for services, HTTP for etcd and the gateway.

The HTTP client is a few lines over asyncio streams rather than aiohttp: it
needs one GET over a unix socket or TCP, and the launcher starts faster without
importing a full HTTP stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.config import DaemonConfig
from services.common.endpoints import unix_socket_path

UNREACHABLE = "UNREACHABLE"

# gRPC's default reconnect back-off starts at 1 s, which would dominate start-up
# time when a probe first connects before the server listens.
_FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 250),
]


async def http_get(
    address: str, path: str, *, within: float, ssl_context: ssl.SSLContext | None = None
) -> tuple[int, bytes]:
    """GET ``path`` from ``unix:///sock``, ``tcp://h:p``, ``http://h:p`` or ``https://h:p``."""

    async def fetch() -> tuple[int, bytes]:
        if address.startswith("unix://"):
            reader, writer = await asyncio.open_unix_connection(address[len("unix://") :])
        else:
            hostport = address.split("://", 1)[-1].rstrip("/")
            host, _, port = hostport.rpartition(":")
            reader, writer = await asyncio.open_connection(
                host.strip("[]"), int(port), ssl=ssl_context,
                server_hostname=host.strip("[]") if ssl_context else None,
            )
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].split()
        if len(status_line) < 2 or not status_line[1].isdigit():
            raise OSError(f"malformed HTTP response from {address}")
        return int(status_line[1]), body

    return await asyncio.wait_for(fetch(), within)


def client_ssl_context(config: DaemonConfig) -> ssl.SSLContext | None:
    """How the launcher itself connects to a TCP host of the gateway (None: plain HTTP)."""
    if not (config.tls or config.tlsverify):
        return None
    context = ssl.create_default_context(cafile=config.tlscacert or None)
    context.check_hostname = False
    if not config.tlsverify:
        context.verify_mode = ssl.CERT_NONE
    elif config.tlscert and config.tlskey:
        # With --tlsverify the gateway demands a client certificate; the server's
        # own pair is the one we have, and it is signed by the same CA in the
        # usual setups. Without it the probe fails and `up` reports why.
        context.load_cert_chain(config.tlscert, config.tlskey)
    return context


async def ping(host: str, config: DaemonConfig, *, within: float = 1.0) -> bool:
    """True when the gateway answers ``GET /_ping`` with 200 on ``host``."""
    context = client_ssl_context(config) if host.startswith("tcp://") else None
    try:
        status, _ = await http_get(host, "/_ping", within=within, ssl_context=context)
    except ssl.SSLError:  # (a subclass of OSError: keep this clause first)
        # Only a listening TLS server gets as far as a handshake error; with
        # --tlsverify it may just reject the certificate the launcher offered.
        return config.tlsverify
    except (OSError, TimeoutError):
        return False
    return status == 200


async def etcd_healthy(endpoint: str, *, within: float = 1.0) -> bool:
    """True when etcd's ``/health`` on ``endpoint`` says ``{"health": "true"}``."""
    try:
        status, body = await http_get(endpoint, "/health", within=within)
        return status == 200 and json.loads(body).get("health") == "true"
    except (OSError, TimeoutError, ValueError, AttributeError):
        return False


class HealthProbe:
    """Reusable gRPC channels to service sockets, for repeated Health checks."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def check(self, address: str, *, within: float = 0.5) -> str:
        """The overall ("") serving status of the service at gRPC ``address``, by name."""
        socket_path = unix_socket_path(address)
        # One stat call: not worth a thread hop.
        if socket_path is not None and not socket_path.exists():
            return UNREACHABLE
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=_FAST_RECONNECT)
            self._channels[address] = channel
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=within)
        except grpc.aio.AioRpcError:
            return UNREACHABLE
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

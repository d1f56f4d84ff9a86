"""Listener planning: dockerd's security floor for TCP, and unix socket permissions."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from gateway.listeners import (
    TcpListener,
    UnixListener,
    bind_unix,
    plan_listeners,
    remove_unix,
    socket_identity,
)
from services.common.config import DaemonConfig
from services.common.errors import InvalidArgument, Unavailable
from tests.unit.gateway_fakes import make_app, serving


def test_unix_and_loopback_tcp_are_plain() -> None:
    config = DaemonConfig(hosts=("unix:///run/x/docker.sock", "tcp://127.0.0.1:2375",
                                 "tcp://[::1]:2375", "tcp://localhost:2375"))
    planned = plan_listeners(config)
    assert planned[0] == UnixListener("unix:///run/x/docker.sock", Path("/run/x/docker.sock"))
    assert all(isinstance(p, TcpListener) and p.ssl_context is None for p in planned[1:])


@pytest.mark.parametrize("host", ["tcp://0.0.0.0:2375", "tcp://10.1.2.3:2375", "tcp://:2375"])
def test_non_loopback_tcp_without_tlsverify_is_refused(host: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        plan_listeners(DaemonConfig(hosts=(host,)))
    message = refused.value.message
    assert message.startswith("refusing to listen on tcp://")
    assert "without --tlsverify" in message
    assert "\n" not in message


def test_tlsverify_without_files_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="tlscacert, tlscert, tlskey"):
        plan_listeners(DaemonConfig(hosts=("tcp://0.0.0.0:2376",), tlsverify=True))


def test_unix_socket_is_0660_and_stale_file_replaced(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "docker.sock"
    listener = UnixListener(f"unix://{path}", path)
    first = bind_unix(listener, group="no-such-group-xyz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o660
    with pytest.raises(Unavailable):  # a live server keeps its socket
        bind_unix(listener, group="")
    identity = socket_identity(path)
    first.close()
    second = bind_unix(listener, group="")  # now stale: removed and rebound
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(str(path))
    remove_unix(path, identity)  # not ours any more: left alone
    assert path.exists()
    remove_unix(path, socket_identity(path))
    assert not path.exists()
    second.close()


async def test_metrics_label_is_the_route_pattern() -> None:
    def count(route: str) -> float:
        value = REGISTRY.get_sample_value(
            "dockyard_gateway_requests_total",
            {"method": "GET", "route": route, "status": "200"},
        )
        return value or 0.0

    before = count("/version")
    async with serving(make_app()) as client:
        await client.get("/v1.47/version")
        await client.get("/version")
    assert count("/version") == before + 2

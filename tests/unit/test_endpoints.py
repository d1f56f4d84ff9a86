"""Service addresses: unix sockets under the exec-root by default, overrides checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.config import build_config
from services.common.endpoints import service_address, unix_socket_path
from services.common.errors import InvalidArgument


def test_default_is_a_socket_under_the_exec_root() -> None:
    config = build_config({"exec-root": "/run/dy2"})
    assert service_address(config, "netd") == "unix:/run/dy2/services/netd.sock"
    assert unix_socket_path(service_address(config, "netd")) == Path(
        "/run/dy2/services/netd.sock"
    )


def test_override_to_loopback_tcp() -> None:
    config = build_config({"services": {"imaged": {"address": "127.0.0.1:7001"}}})
    assert service_address(config, "imaged") == "127.0.0.1:7001"
    assert unix_socket_path("127.0.0.1:7001") is None
    assert service_address(config, "execd").startswith("unix:/run/dockyard/")


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("10.1.2.3:7000", "only loopback TCP addresses"),
        ("0.0.0.0:7000", "only loopback TCP addresses"),
        ("127.0.0.1", "expected host:port"),
        ("unix:", "path required"),
    ],
)
def test_bad_overrides_are_refused(address: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument, match=fragment):
        build_config({"services": {"netd": {"address": address}}})

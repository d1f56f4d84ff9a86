"""`docker version`, `docker info` and raw /_ping through the stock CLI and plain HTTP."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.root

TOO_OLD = (
    "client version 1.23 is too old. Minimum supported API version is 1.24, "
    "please upgrade your client to a newer version"
)


def _server_warnings(cluster: Any) -> set[str]:
    """The host warnings the engine itself reports (dockerd reports the same ones)."""
    info = json.loads(cluster.docker("info", "--format", "{{json .}}").stdout)
    return set(info.get("Warnings") or [])


def _unexpected_stderr(stderr: str, allowed: set[str]) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and line.strip() not in allowed]


def test_docker_version_shows_the_server(cluster: Any) -> None:
    result = cluster.docker("version")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Server: Dockyard Engine" in out
    assert "API version:      1.47 (minimum version 1.24)" in out
    for component in ("etcd:", "runc:", "conmon:"):
        assert f"\n {component}\n  Version:" in out, component
    assert result.stderr.strip() == ""


def test_docker_version_format(cluster: Any) -> None:
    result = cluster.docker("version", "--format", "{{json .Server}}")
    assert result.returncode == 0, result.stderr
    server = json.loads(result.stdout)
    assert server["ApiVersion"] == "1.47"
    versions = {c["Name"]: c["Version"] for c in server["Components"]}
    assert {"Engine", "etcd", "runc", "conmon"} <= set(versions)
    assert all(versions.values())


def test_docker_info_prints_without_errors(cluster: Any) -> None:
    result = cluster.docker("info")
    assert result.returncode == 0, result.stderr
    assert "Server Version:" in result.stdout
    assert "Storage Driver: overlay2" in result.stdout
    assert "ERROR" not in result.stdout
    # Only genuine host warnings may appear (e.g. IPv4 forwarding disabled),
    # nothing about missing fields or unavailable services.
    assert _unexpected_stderr(result.stderr, _server_warnings(cluster)) == []
    assert "unavailable" not in result.stderr


def test_docker_info_json_fields(cluster: Any) -> None:
    result = cluster.docker("info", "--format", "{{json .}}")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["CgroupDriver"] in ("cgroupfs", "systemd")
    assert info["CgroupVersion"] in ("1", "2")
    assert info["Driver"] == "overlay2"
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["NCPU"] >= 1
    assert info["MemTotal"] > 0
    assert info["DockerRootDir"] == str(cluster.data_root)
    assert info["OSType"] == "linux"
    assert not info.get("ServerErrors")


def _connector_and_base(docker_host: str) -> tuple[aiohttp.BaseConnector, str]:
    if docker_host.startswith("unix://"):
        return aiohttp.UnixConnector(path=docker_host[len("unix://"):]), "http://docker"
    return aiohttp.TCPConnector(), "http://" + docker_host[len("tcp://"):]


async def test_raw_head_ping_headers(cluster: Any) -> None:
    connector, base = _connector_and_base(cluster.docker_host)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.head(f"{base}/_ping") as response:
            assert response.status == 200
            headers = response.headers
            assert headers["Api-Version"] == "1.47"
            assert headers["Ostype"] == "linux"
            assert headers["Docker-Experimental"] == "false"
            assert headers["Swarm"] == "inactive"
            assert headers["Builder-Version"] == "1"
            assert headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
            assert headers["Pragma"] == "no-cache"
            assert headers["Server"].startswith("Dockyard/")
        async with session.get(f"{base}/v1.47/_ping") as response:
            assert await response.read() == b"OK"
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_raw_version_bounds(cluster: Any) -> None:
    connector, base = _connector_and_base(cluster.docker_host)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"{base}/v1.23/version") as response:
            assert response.status == 400
            assert (await response.text()).strip() == TOO_OLD
        async with session.get(f"{base}/v1.48/version") as response:
            assert response.status == 400
            assert response.headers["Content-Type"] == "application/json"
            assert await response.json() == {
                "message": "client version 1.48 is too new. Maximum supported API version is 1.47"
            }
        async with session.get(f"{base}/v1.47/no/such/endpoint") as response:
            assert response.status == 404
            assert await response.json() == {"message": "page not found"}

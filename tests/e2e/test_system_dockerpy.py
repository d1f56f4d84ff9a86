"""docker-py's ping, version and info against the running cluster."""

from __future__ import annotations

from typing import Any

import docker
import pytest

pytestmark = pytest.mark.root


def test_ping(cluster: Any) -> None:
    assert cluster.client().ping() is True


def test_version_negotiates_1_47(cluster: Any) -> None:
    client = docker.DockerClient(base_url=cluster.docker_host, version="auto")
    try:
        assert client.api.api_version == "1.47"
        version = client.version()
    finally:
        client.close()
    assert version["ApiVersion"] == "1.47"
    assert version["MinAPIVersion"] == "1.24"
    assert version["Platform"]["Name"] == "Dockyard Engine"
    names = [c["Name"] for c in version["Components"]]
    assert names[0] == "Engine"
    assert {"etcd", "runc", "conmon"} <= set(names)


def test_info(cluster: Any) -> None:
    info = cluster.client().info()
    assert info["Driver"] == "overlay2"
    assert info["DockerRootDir"] == str(cluster.data_root)
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["CgroupVersion"] in ("1", "2")
    assert info["NCPU"] >= 1 and info["MemTotal"] > 0
    assert "runc" in info["Runtimes"]
    assert info["DefaultRuntime"] == "runc"
    assert info["Plugins"]["Volume"] == ["local"]
    assert "bridge" in info["Plugins"]["Network"]
    assert info["ID"] == cluster.client().info()["ID"]  # stable across calls
    assert not any("unavailable" in w for w in info["Warnings"] or [])

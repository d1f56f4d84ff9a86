"""docker-compose.yml deploys every component of the design from the repo's Dockerfile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXEC_ROOT = "/run/dockyard"
GRPC_SERVICES = ("imaged", "netd", "cgroupd", "execd")
COMPONENTS = ("etcd", *GRPC_SERVICES, "gateway")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    result: dict[str, Any] = compose["services"]
    return result


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def mount_targets(service: dict[str, Any]) -> set[str]:
    """Container paths of every volume, short (``src:dst[:opts]``) or long syntax."""
    targets = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            targets.add(volume.split(":")[1])
        else:
            targets.add(volume["target"])
    return targets


def test_every_component_is_a_service(services: dict[str, Any]) -> None:
    missing = [name for name in COMPONENTS if name not in services]
    assert not missing, f"docker-compose.yml lacks {missing}"


@pytest.mark.parametrize("name", [*GRPC_SERVICES, "gateway"])
def test_service_shares_the_exec_root(services: dict[str, Any], name: str) -> None:
    # The gRPC unix sockets and the API socket live there: without the shared
    # mount the gateway cannot reach the services, nor clients the gateway.
    assert EXEC_ROOT in mount_targets(services[name])


@pytest.mark.parametrize("name", GRPC_SERVICES)
def test_grpc_service_runs_its_module(services: dict[str, Any], name: str) -> None:
    command = command_of(services[name])
    assert command[:3] == ["python", "-m", f"services.{name}"], command
    assert "--config" in command


def test_gateway_runs_its_module(services: dict[str, Any]) -> None:
    command = command_of(services["gateway"])
    assert command[:3] == ["python", "-m", "gateway"], command
    assert "--config" in command


def test_etcd_runs_etcd(services: dict[str, Any]) -> None:
    assert command_of(services["etcd"])[0] == "etcd"


def test_services_that_need_the_host_get_it(services: dict[str, Any]) -> None:
    assert services["netd"]["network_mode"] == "host"
    assert services["execd"]["pid"] == "host"
    assert services["execd"]["privileged"] is True
    assert "/sys/fs/cgroup" in mount_targets(services["cgroupd"])


def test_etcd_is_reachable_the_same_way_from_every_service(services: dict[str, Any]) -> None:
    # A host-network container cannot resolve compose service names, so either
    # everything is on the host network or nothing is.
    modes = {name: services[name].get("network_mode") for name in COMPONENTS}
    assert set(modes.values()) == {"host"}, modes


def test_images_are_built_from_the_repo_dockerfile(services: dict[str, Any]) -> None:
    assert (REPO / "Dockerfile").is_file()
    for name in COMPONENTS:
        build = services[name].get("build")
        assert build is not None, f"{name} has no build section"
        if isinstance(build, str):
            build = {"context": build}
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        assert (REPO / context / dockerfile).resolve() == (REPO / "Dockerfile").resolve()

"""Helpers of the container e2e tests: the busybox image, names cleaned up, polling.

Each test module declares two small fixtures over these helpers (``busybox``,
``names``) so that every container a test makes is removed, with its
anonymous volumes, when the test ends, whatever state it is in.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from gateway.containers.times import parse_rfc3339
from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import DOCKER_CLI, Cluster

T = TypeVar("T")


def ensure_busybox(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``busybox:latest`` in the cluster (imported from Debian's busybox-static, CMD sh)."""
    if cluster.docker("image", "inspect", "busybox:latest").returncode != 0:
        tar = cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))
        imported = cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest")
        assert imported.returncode == 0, imported.stderr
    return "busybox"


class Names:
    """Unique names of the containers and volumes one test makes."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def new(self, prefix: str = "c") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.containers.append(name)
        return name

    def volume(self, prefix: str = "v") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.volumes.append(name)
        return name


def cleaned_names(cluster: Cluster) -> Iterator[Names]:
    """Yield a :class:`Names`; afterwards ``docker rm -f -v`` its containers, then its volumes."""
    names = Names()
    yield names
    if names.containers:
        cluster.docker("rm", "-f", "-v", *names.containers)
    if names.volumes:
        cluster.docker("volume", "rm", "-f", *names.volumes)


def docker_bytes(cluster: Cluster, *args: str, input: bytes | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """The CLI with its output as bytes (text mode would turn a terminal's CRLF into LF)."""
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run([DOCKER_CLI, *args], capture_output=True, env=env, input=input,
                          timeout=timeout, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def inspect(cluster: Cluster, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(
        ok(cluster.docker("inspect", "--type", "container", name)))
    return data[0]


def state(cluster: Cluster, name: str) -> dict[str, Any]:
    found: dict[str, Any] = inspect(cluster, name)["State"]
    return found


def all_container_ids(cluster: Cluster) -> list[str]:
    return ok(cluster.docker("ps", "-aq", "--no-trunc")).split()


def poll(check: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05,
         what: str = "the condition") -> T:
    """The first truthy value of ``check()``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def moment(text: str) -> float:
    """Unix seconds of an RFC 3339 time Docker printed (fails on anything else)."""
    value = parse_rfc3339(text)
    assert value is not None, f"not an RFC 3339 time: {text!r}"
    return value


def running(cluster: Cluster, name: str) -> bool:
    return bool(state(cluster, name)["Running"])


def gone(cluster: Cluster, name: str) -> bool:
    return cluster.docker("inspect", "--type", "container", name).returncode != 0

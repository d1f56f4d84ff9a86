"""What ``docker events`` shows of a start that fails, as dockerd shows it.

Seen on dockerd 20.10 (a private one, bridge networking): a failed start has
no ``start`` and no ``die`` (nothing ran); its cleanup reports a volume
``unmount`` for each volume, and a network ``disconnect`` for each network
once the sandbox was made (a published port already taken is found when the
endpoint joins it: a disconnect with no connect before). A network removed
since create is found before the sandbox: no network event. A process that
runc cannot start (a command not found) comes after the connect and the
mounts, which are reported, then undone. A ``--mount`` bind source removed
since create is refused before anything is made: no event, State untouched.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_containers import Names, ok, state
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


def events_of(cluster: Cluster, since: float, container_id: str) -> list[tuple[str, str, str]]:
    """(type, action, network name or volume) of every event about the container."""
    until = time.time() + 0.3  # the last emits may still be on their way to etcd
    out = ok(cluster.docker("events", "--since", f"{since:.9f}", "--until", f"{until:.9f}",
                            "--format", "{{json .}}"))
    seen = []
    for line in out.splitlines():
        event: dict[str, Any] = json.loads(line)
        attributes = event["Actor"]["Attributes"]
        if container_id not in (event["Actor"]["ID"], attributes.get("container")):
            continue
        what = {"network": attributes.get("name", ""), "volume": event["Actor"]["ID"]}
        seen.append((event["Type"], event["Action"], what.get(event["Type"], "")))
    return seen


def container_id(cluster: Cluster, name: str) -> str:
    return ok(cluster.docker("inspect", "--format", "{{.Id}}", name)).strip()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def test_a_taken_port_reports_a_disconnect_and_the_unmounts_but_no_start_or_die(
    cluster: Cluster, busybox: str, names: Names, taken_port: int
) -> None:
    name, volume = names.new("fs-port"), names.volume("fs-port")
    ok(cluster.docker("volume", "create", volume))
    since = time.time()
    run = cluster.docker("run", "--name", name, "-p", f"127.0.0.1:{taken_port}:80",
                         "-v", f"{volume}:/data", busybox, "true")
    assert run.returncode == 125, run.stderr
    assert "address already in use" in run.stderr
    cid = container_id(cluster, name)
    assert events_of(cluster, since, cid) == [
        ("container", "create", ""), ("container", "attach", ""),
        ("network", "disconnect", "bridge"), ("volume", "unmount", volume)]
    after = state(cluster, name)
    assert (after["Status"], after["ExitCode"]) == ("created", 128)
    assert "address already in use" in after["Error"]


def test_a_network_removed_since_create_reports_only_the_unmounts(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name, volume, network = names.new("fs-net"), names.volume("fs-net"), names.new("fs-net")
    ok(cluster.docker("network", "create", network))
    ok(cluster.docker("create", "--name", name, "--network", network, "-v", f"{volume}:/data",
                      busybox, "true"))
    ok(cluster.docker("network", "rm", network))
    since = time.time()
    start = cluster.docker("start", name)
    assert start.returncode == 1
    assert f"network {network} not found" in start.stderr
    assert events_of(cluster, since, container_id(cluster, name)) == [
        ("volume", "unmount", volume)]
    after = state(cluster, name)
    assert (after["Status"], after["ExitCode"]) == ("created", 128)


def test_a_command_not_found_reports_its_network_and_volume_joined_then_left(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name, volume = names.new("fs-cmd"), names.volume("fs-cmd")
    ok(cluster.docker("volume", "create", volume))
    since = time.time()
    run = cluster.docker("run", "--name", name, "-v", f"{volume}:/data", busybox, "no-such-cmd")
    assert run.returncode == 127, run.stderr
    assert events_of(cluster, since, container_id(cluster, name)) == [
        ("container", "create", ""), ("container", "attach", ""),
        ("network", "connect", "bridge"), ("volume", "mount", volume),
        ("network", "disconnect", "bridge"), ("volume", "unmount", volume)]
    after = state(cluster, name)
    assert (after["Status"], after["ExitCode"]) == ("created", 127)


def test_a_mount_source_removed_since_create_is_refused_before_anything_is_made(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    source = tmp_path / "gone-source"
    source.mkdir()
    name, volume = names.new("fs-bind"), names.volume("fs-bind")
    ok(cluster.docker("create", "--name", name, "--mount",
                      f"type=bind,src={source},dst=/x", "-v", f"{volume}:/data", busybox, "true"))
    source.rmdir()
    since = time.time()
    start = cluster.docker("start", name)
    assert start.returncode == 1
    assert (f'invalid mount config for type "bind": bind source path does not exist: {source}'
            in start.stderr)
    cid = container_id(cluster, name)
    assert events_of(cluster, since, cid) == []
    after = state(cluster, name)
    assert (after["Status"], after["ExitCode"], after["Error"]) == ("created", 0, "")
    # Nothing was left half-made: with its source back it starts and runs.
    source.mkdir()
    ok(cluster.docker("start", "-a", name))
    assert state(cluster, name)["ExitCode"] == 0

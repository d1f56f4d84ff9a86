"""``docker events`` and ``docker stats`` (which follows events) against a real cluster."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from typing import Any

import pytest

from tests.support.cli_containers import Names, ok, poll
from tests.support.cluster import DOCKER_CLI, Cluster
from tests.support.registry import Registry

pytestmark = pytest.mark.root


def stamp(seconds: float) -> str:
    return f"{seconds:.9f}"


def events_between(cluster: Cluster, since: float, *args: str) -> list[dict[str, Any]]:
    """What ``docker events`` replays from ``since`` until a moment from now."""
    until = time.time() + 0.3  # the last emits may still be on their way to etcd
    out = ok(cluster.docker("events", "--since", stamp(since), "--until", stamp(until),
                            "--format", "{{json .}}", *args))
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self._path)


def test_run_rm_reports_create_start_die_destroy_in_order(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("events-run")
    since = time.time()
    result = cluster.docker("run", "--rm", "--name", name, "-l", "team=blue", busybox,
                            "sh", "-c", "exit 3")
    assert result.returncode == 3, result.stderr
    seen = events_between(cluster, since, "--filter", f"container={name}")
    actions = [e["Action"] for e in seen]
    lifecycle = [a for a in actions if a in ("create", "start", "die", "destroy")]
    assert lifecycle == ["create", "start", "die", "destroy"], actions
    container_id = seen[0]["Actor"]["ID"]
    for event in seen:
        assert event["Type"] == "container" and event["scope"] == "local"
        assert event["Actor"]["ID"] == container_id and event["id"] == container_id
        assert event["status"] == event["Action"] and event["from"] == busybox
        attributes = event["Actor"]["Attributes"]
        assert (attributes["name"], attributes["image"], attributes["team"]) == (
            name, busybox, "blue")
    times = [e["timeNano"] for e in seen]
    assert times == sorted(times)
    die = seen[actions.index("die")]
    assert die["Actor"]["Attributes"]["exitCode"] == "3"


def test_filter_type_network_with_format(cluster: Cluster, busybox: str, names: Names) -> None:
    network = names.new("events-net")
    container = names.new("events-member")
    since = time.time()
    try:
        ok(cluster.docker("network", "create", network))
        ok(cluster.docker("create", "--name", container, busybox, "true"))
        ok(cluster.docker("network", "connect", network, container))
        ok(cluster.docker("network", "disconnect", network, container))
        ok(cluster.docker("network", "rm", network))
    finally:
        cluster.docker("network", "rm", network)
    until = time.time() + 0.3
    out = ok(cluster.docker(
        "events", "--since", stamp(since), "--until", stamp(until), "--filter", "type=network",
        "--filter", f"network={network}", "--format", "{{.Action}} {{.Actor.Attributes.name}}"))
    assert out.splitlines() == [f"create {network}", f"connect {network}",
                                f"disconnect {network}", f"destroy {network}"]


def test_kill_and_exec_events_carry_signal_and_exit_codes(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("events-kill")
    since = time.time()
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sleep", "60"))
    ok(cluster.docker("exec", name, "true"))
    ok(cluster.docker("kill", name))
    poll(lambda: any(e["Action"] == "die" for e in events_between(
        cluster, since, "--filter", f"container={name}", "--filter", "event=die")) or None,
        what="the die event")
    seen = events_between(cluster, since, "--filter", f"container={name}")
    by_action = {e["Action"]: e["Actor"]["Attributes"] for e in seen}
    assert "exec_create: true" in by_action and "exec_start: true" in by_action
    assert by_action["exec_die"]["exitCode"] == "0"
    assert by_action["kill"]["signal"] == "9"
    assert by_action["die"]["exitCode"] == "137"
    only_dies = events_between(cluster, since, "--filter", f"container={name}",
                               "--filter", "event=die")
    assert [e["Action"] for e in only_dies] == ["die"]


def test_live_stream_sends_headers_at_once_and_ends_at_until(cluster: Cluster) -> None:
    socket_path = cluster.docker_host.removeprefix("unix://")
    connection = UnixConnection(socket_path)
    started = time.monotonic()
    until = time.time() + 1.5
    connection.request("GET", f"/v1.47/events?until={stamp(until)}")
    response = connection.getresponse()  # raises on timeout if headers were held back
    assert time.monotonic() - started < 1.0
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/json"
    response.read()  # the stream ends by itself at `until`
    assert time.time() >= until - 0.05
    connection.close()


def test_bad_filter_is_a_400_naming_it(cluster: Cluster) -> None:
    result = cluster.docker("events", "--filter", "colour=red", "--until", stamp(time.time()))
    assert result.returncode != 0
    assert "invalid filter 'colour'" in result.stderr


def test_docker_stats_follows_events_prints_a_frame_and_stops(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("events-stats")
    container_id = ok(cluster.docker("run", "-d", "--name", name, busybox, "sleep", "60")).strip()
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    env.pop("DOCKER_CONTEXT", None)
    stats = subprocess.Popen([DOCKER_CLI, "stats"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
    try:
        output = b""
        deadline = time.monotonic() + 15
        assert stats.stdout is not None
        os.set_blocking(stats.stdout.fileno(), False)
        while container_id[:12].encode() not in output and time.monotonic() < deadline:
            output += stats.stdout.read() or b""
            time.sleep(0.05)
        assert b"CONTAINER ID" in output and container_id[:12].encode() in output
        stats.send_signal(signal.SIGINT)
        stats.wait(timeout=10)
    finally:
        if stats.poll() is None:
            stats.kill()
            stats.wait()


def test_run_reports_its_network_and_volume_around_start_and_die(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("events-parts")
    volume = names.new("events-vol")
    since = time.time()
    try:
        container_id = ok(cluster.docker(
            "run", "-d", "--name", name, "-v", f"{volume}:/data", busybox, "true")).strip()
        poll(lambda: any(e["Action"] == "unmount" for e in events_between(
            cluster, since, "--filter", f"volume={volume}")) or None, what="the unmount event")
        volume_events = events_between(cluster, since, "--filter", f"volume={volume}")
        network_events = [e for e in events_between(cluster, since, "--filter", "type=network")
                          if e["Actor"]["Attributes"].get("container") == container_id]
    finally:
        cluster.docker("rm", "-f", name)
        cluster.docker("volume", "rm", volume)
    assert [e["Action"] for e in volume_events] == ["create", "mount", "unmount"]
    mount = volume_events[1]["Actor"]["Attributes"]
    assert (mount["container"], mount["destination"], mount["driver"], mount["read/write"]) == (
        container_id, "/data", "local", "true")
    assert [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in network_events] == [
        ("connect", "bridge"), ("disconnect", "bridge")]


def test_tag_and_untag_are_image_events_on_the_image_id(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    repo = names.new("events-img")
    image_id = ok(cluster.docker("image", "inspect", "--format", "{{.Id}}", busybox)).strip()
    since = time.time()
    ok(cluster.docker("tag", busybox, f"{repo}:v1"))
    ok(cluster.docker("rmi", f"{repo}:v1"))
    seen = events_between(cluster, since, "--filter", "type=image")
    assert [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in seen] == [
        ("tag", image_id, f"{repo}:v1"), ("untag", image_id, f"{repo}:v1")]
    only_repo = events_between(cluster, since, "--filter", f"image={repo}")
    assert [e["Action"] for e in only_repo] == ["tag", "untag"]


def test_push_and_pull_are_image_events_on_the_reference(
    cluster: Cluster, busybox: str, registry: Registry, names: Names
) -> None:
    name = registry.name(names.new("events-dist"))
    since = time.time()
    try:
        ok(cluster.docker("tag", busybox, f"{name}:v1"))
        ok(cluster.docker("push", f"{name}:v1"))
        ok(cluster.docker("rmi", f"{name}:v1"))
        ok(cluster.docker("pull", f"{name}:v1"))
    finally:
        cluster.docker("rmi", f"{name}:v1")
    seen = events_between(cluster, since, "--filter", f"image={name}")
    actions = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"])
               for e in seen if e["Action"] in ("push", "pull")]
    assert actions == [("push", f"{name}:v1", name), ("pull", f"{name}:v1", name)]

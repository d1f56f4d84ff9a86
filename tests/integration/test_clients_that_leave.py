"""A client that leaves ends its request in the gateway (what an operator sees on /metrics).

``docker run -d`` sends a ``wait`` it never reads to the end; ``docker events`` and
``docker logs -f`` are ended with ctrl-c. The gateway must not keep handling those
requests until the container exits or something is logged: each would hold a
task and listeners for the container's lifetime, and ``dockyard down`` would wait
for them. ``dockyard_gateway_requests_in_flight`` shows the requests being handled.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import MakeCluster
from tests.support.cli_containers import ensure_busybox
from tests.support.cluster import Cluster
from tests.support.etcd import free_port

pytestmark = pytest.mark.root

DEADLINE = 15.0
WATCHED_ROUTES = ("/containers/{id}/wait", "/events", "/containers/{id}/logs")


def in_flight(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = re.findall(r'^dockyard_gateway_requests_in_flight\{route="([^"]*)"\} (\S+)$',
                       text, re.MULTILINE)
    return {route: float(value) for route, value in found}


def watched(port: int) -> dict[str, float]:
    now = in_flight(port)
    return {route: now.get(route, 0.0) for route in WATCHED_ROUTES}


def wait_until(port: int, wanted: dict[str, float]) -> None:
    deadline = time.monotonic() + DEADLINE
    while (now := watched(port)) != wanted:
        assert time.monotonic() < deadline, f"in flight: {now}, wanted {wanted}"
        time.sleep(0.2)


def cli(cluster: Cluster, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.Popen(["docker", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.fixture
def cluster_and_port(
    make_cluster: MakeCluster, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Cluster, int]:
    port = free_port()
    made = make_cluster(daemon_json={"metrics-addr": f"127.0.0.1:{port}"})
    ensure_busybox(made, tmp_path_factory)
    return made, port


def test_requests_of_clients_that_left_end(cluster_and_port: tuple[Cluster, int]) -> None:
    cluster, port = cluster_and_port
    idle = dict.fromkeys(WATCHED_ROUTES, 0.0)
    started = cluster.docker("run", "-d", "--name", "quiet", "busybox", "sleep", "600")
    assert started.returncode == 0, started.stderr
    # The CLI's wait of `run -d` goes with the CLI; the container runs on.
    wait_until(port, idle)

    followers = [cli(cluster, "events"), cli(cluster, "logs", "-f", "quiet"),
                 cli(cluster, "wait", "quiet")]
    wait_until(port, dict.fromkeys(WATCHED_ROUTES, 1.0))
    for follower in followers:
        follower.send_signal(signal.SIGINT)
        follower.wait(timeout=DEADLINE)
    wait_until(port, idle)

    # A client that stays still gets its answer.
    waiting = cli(cluster, "wait", "quiet")
    wait_until(port, {**idle, "/containers/{id}/wait": 1.0})
    assert cluster.docker("kill", "quiet").returncode == 0
    assert waiting.wait(timeout=DEADLINE) == 0
    wait_until(port, idle)
    assert cluster.docker("inspect", "-f", "{{.State.Status}}", "quiet").stdout.strip() == "exited"


def test_requests_of_a_killed_gateway_are_not_counted(
    cluster_and_port: tuple[Cluster, int],
) -> None:
    cluster, port = cluster_and_port
    events = cli(cluster, "events")
    wait_until(port, {**dict.fromkeys(WATCHED_ROUTES, 0.0), "/events": 1.0})
    gateway = cluster.pid_of("gateway")
    assert gateway is not None
    os.kill(gateway, signal.SIGKILL)
    events.wait(timeout=DEADLINE)  # its connection went with the gateway
    deadline = time.monotonic() + DEADLINE
    while cluster.docker("version").returncode != 0:
        assert time.monotonic() < deadline, cluster.log_tail()
        time.sleep(0.2)
    # The launcher dropped what the dead gateway had in flight.
    wait_until(port, dict.fromkeys(WATCHED_ROUTES, 0.0))

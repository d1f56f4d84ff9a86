"""Restart policies when Dockyard starts (issue 6, part 8).

As dockerd: when Dockyard starts (``dockyard up`` after ``down``, or after the
launcher was killed), ``always`` containers and ``unless-stopped`` ones the
user did not stop are started again; ``no`` and ``on-failure`` ones are not.
A restart of one part (the gateway, execd) is not a start of Dockyard and
starts nothing. ``dockyard down`` leaves running containers running
(live-restore), so the containers tested here had stopped before.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeCluster
from tests.support.cli_containers import ensure_busybox
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

STOPS_ON_TERM = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
EXITS_5_ON_TERM = "trap 'exit 5' TERM; while :; do sleep 0.1; done"
DEADLINE = 30.0


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def inspect(cluster: Cluster, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(ok(cluster.docker("inspect", name)))
    return data[0]


def status(cluster: Cluster, name: str) -> str:
    return str(inspect(cluster, name)["State"]["Status"])


def wait_status(cluster: Cluster, name: str, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        details = inspect(cluster, name)
        if details["State"]["Status"] == wanted or time.monotonic() > deadline:
            # The gateway's log says why a start-up pass did not start it.
            assert details["State"]["Status"] == wanted, (
                name, details["State"], cluster.log_tail(80))
            return details
        time.sleep(0.1)


def run(cluster: Cluster, name: str, policy: str, command: str) -> None:
    ok(cluster.docker("run", "-d", "--name", name, "--restart", policy, "busybox",
                      "sh", "-c", command))
    wait_status(cluster, name, "running")


def wait_serving(cluster: Cluster) -> None:
    """The gateway answers and execd too (``top`` goes to execd)."""
    deadline = time.monotonic() + DEADLINE
    while cluster.docker("top", "keeper").returncode != 0:
        assert time.monotonic() < deadline, cluster.log_tail()
        time.sleep(0.2)


def settle(seconds: float = 3.0) -> None:
    """Long enough for the gateway's start-up pass to have started anything it would."""
    time.sleep(seconds)


@pytest.fixture
def cluster(make_cluster: MakeCluster, tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    made = make_cluster()
    ensure_busybox(made, tmp_path_factory)
    run(made, "keeper", "no", STOPS_ON_TERM)
    return made


def test_dockyard_start_starts_always_and_unless_stopped(cluster: Cluster) -> None:
    run(cluster, "always-stopped", "always", STOPS_ON_TERM)
    run(cluster, "unless-stopped-stopped", "unless-stopped", STOPS_ON_TERM)
    run(cluster, "unless-stopped-exits", "unless-stopped", EXITS_5_ON_TERM)
    run(cluster, "no-exits", "no", EXITS_5_ON_TERM)
    run(cluster, "on-failure-stopped", "on-failure", STOPS_ON_TERM)
    run(cluster, "always-running", "always", STOPS_ON_TERM)
    for name in ("always-stopped", "unless-stopped-stopped", "on-failure-stopped"):
        ok(cluster.docker("stop", name))
    running_pid = inspect(cluster, "always-running")["State"]["Pid"]
    pids = {n: inspect(cluster, n)["State"]["Pid"] for n in ("unless-stopped-exits", "no-exits")}

    ok(cluster.down())
    # While Dockyard is down two containers end on their own.
    for pid in pids.values():
        os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    cluster.start()
    wait_serving(cluster)

    wait_status(cluster, "always-stopped", "running")
    restarted = wait_status(cluster, "unless-stopped-exits", "running")
    assert restarted["RestartCount"] == 1
    assert inspect(cluster, "always-running")["State"]["Pid"] == running_pid
    settle()
    for name in ("unless-stopped-stopped", "on-failure-stopped"):
        assert status(cluster, name) == "exited", name
    no_exits = inspect(cluster, "no-exits")["State"]
    assert (no_exits["Status"], no_exits["ExitCode"]) == ("exited", 5)
    assert status(cluster, "always-stopped") == "running"


def test_part_restarts_start_nothing_and_a_killed_launcher_does(cluster: Cluster) -> None:
    run(cluster, "always", "always", STOPS_ON_TERM)
    ok(cluster.docker("stop", "always"))
    for component in ("gateway", "execd"):
        pid = cluster.pid_of(component)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        wait_serving(cluster)
        settle()
        assert status(cluster, "always") == "exited", f"started by a restart of {component}"

    launcher = cluster.launcher_pid()
    assert launcher is not None
    children = [p for p in (cluster.pid_of(c) for c in ("gateway", "execd", "etcd")) if p]
    os.kill(launcher, signal.SIGKILL)
    deadline = time.monotonic() + DEADLINE
    while any(str(cluster.base) in _cmdline(p) for p in children):  # a reused pid is not one
        assert time.monotonic() < deadline, "the cluster outlived its launcher"
        time.sleep(0.05)
    cluster.start()
    wait_serving(cluster)
    started = wait_status(cluster, "always", "running")
    assert started["RestartCount"] == 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""

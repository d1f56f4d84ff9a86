"""A health probe that outlives ``--health-timeout`` is killed, as dockerd kills it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cli_containers import Names, ok, poll
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


def _health(cluster: Cluster, name: str) -> Any:
    return json.loads(ok(cluster.docker("inspect", "--format", "{{json .State.Health}}", name)))


def _probe_processes(cluster: Cluster, name: str) -> list[str]:
    rows = ok(cluster.docker("top", name)).splitlines()[1:]
    return [row for row in rows if "sleep 100" in row]


def test_a_probe_past_its_timeout_is_killed_before_it_is_reported(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("probekill")
    # The next probe comes an interval after the last one ended: time to look.
    ok(cluster.docker("run", "-d", "--name", name, "--health-cmd", "sleep 100",
                      "--health-interval", "5s", "--health-timeout", "1s",
                      "--health-retries", "3", busybox, "sleep", "300"))

    def timed_out() -> Any:
        health = _health(cluster, name)
        return health if health and health["Log"] else None

    health = poll(timed_out, timeout=40, interval=0.2, what="the first probe's verdict")
    assert health["Log"][0]["Output"] == "Health check exceeded timeout (1s)"
    assert health["Log"][0]["ExitCode"] == -1
    assert health["FailingStreak"] == 1
    assert _probe_processes(cluster, name) == []
    # The container itself is untouched.
    assert ok(cluster.docker("inspect", "--format", "{{.State.Status}}", name)) == "running\n"

"""Health checks through the stock CLI: ``--health-*`` flags, the image's HEALTHCHECK,
``State.Health`` in inspect, ``docker ps`` status and ``--filter health=``."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cli_containers import Names, ok, poll
from tests.support.cluster import Cluster
from tests.unit.spec_schema import validate_response

pytestmark = pytest.mark.root


def _health(cluster: Cluster, name: str) -> Any:
    out = ok(cluster.docker("inspect", "--format", "{{json .State.Health}}", name))
    return json.loads(out)


def _status_is(cluster: Cluster, name: str, status: str) -> Any:
    def check() -> Any:
        health = _health(cluster, name)
        return health if health and health["Status"] == status else None
    return poll(check, timeout=15, interval=0.2, what=f"{name} to be {status}")


def _ps(cluster: Cluster, *args: str) -> list[str]:
    return ok(cluster.docker("ps", "--format", "{{.Names}} {{.Status}}", *args)).splitlines()


def test_passing_check_becomes_healthy(cluster: Cluster, busybox: str, names: Names) -> None:
    name = names.new()
    ok(cluster.docker("run", "-d", "--name", name, "--health-cmd", "echo alive",
                      "--health-interval", "1s", busybox, "sleep", "60"))
    health = _status_is(cluster, name, "healthy")
    assert health["FailingStreak"] == 0
    inspected = json.loads(ok(cluster.docker("inspect", name)))[0]
    assert validate_response(inspected, "/containers/{id}/json") == []
    entry = health["Log"][-1]
    assert entry["ExitCode"] == 0 and entry["Output"] == "alive\n"
    assert entry["Start"] <= entry["End"]
    row = next(line for line in _ps(cluster) if line.startswith(name + " "))
    assert row.startswith(f"{name} Up ") and row.endswith(" (healthy)")
    assert name in " ".join(_ps(cluster, "--filter", "health=healthy"))
    assert name not in " ".join(_ps(cluster, "--filter", "health=unhealthy"))

    def health_events() -> bool:
        events = ok(cluster.docker("events", "--since", "10m", "--until", "0s", "--filter",
                                   f"container={name}", "--format", "{{.Action}}"))
        seen = set(events.splitlines())
        return {"health_status: healthy", "exec_create: /bin/sh -c echo alive",
                "exec_start: /bin/sh -c echo alive", "exec_die"} <= seen

    poll(health_events, timeout=10, interval=0.5, what="the probe and health_status events")
    poll(lambda: len(_health(cluster, name)["Log"]) == 5, timeout=15, interval=0.5,
         what="five log entries")
    assert len(_health(cluster, name)["Log"]) == 5  # the last five only
    # Ended probes are not listed among the container's exec sessions.
    exec_ids = json.loads(ok(cluster.docker("inspect", "--format", "{{json .ExecIDs}}", name)))
    assert len(exec_ids or []) <= 1


def test_failing_check_becomes_unhealthy(cluster: Cluster, busybox: str, names: Names) -> None:
    name = names.new()
    ok(cluster.docker("run", "-d", "--name", name, "--health-cmd", "false",
                      "--health-interval", "1s", "--health-retries", "1", busybox, "sleep", "60"))
    assert _health(cluster, name)["Status"] == "starting"
    assert any(line.endswith("(health: starting)") for line in _ps(cluster)
               if line.startswith(name + " "))
    health = _status_is(cluster, name, "unhealthy")
    assert health["FailingStreak"] >= 1
    assert health["Log"][0]["ExitCode"] == 1
    assert name in " ".join(_ps(cluster, "--filter", "health=unhealthy"))


def test_a_restart_starts_over_at_starting(cluster: Cluster, busybox: str, names: Names) -> None:
    """As dockerd: the new run is ``starting`` the moment it begins, not the last run's status."""
    name = names.new()
    ok(cluster.docker("run", "-d", "--name", name, "--health-cmd", "true",
                      "--health-interval", "30s", "--health-start-interval", "1s",
                      "--health-start-period", "60s", busybox, "sleep", "60"))
    _status_is(cluster, name, "healthy")
    ok(cluster.docker("restart", "-t", "0", name))
    assert _health(cluster, name)["Status"] == "starting"
    assert any(line.endswith("(health: starting)") for line in _ps(cluster)
               if line.startswith(name + " "))


def test_timeout_and_image_healthcheck(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    slow = names.new()
    ok(cluster.docker("run", "-d", "--name", slow, "--health-cmd", "sleep 5",
                      "--health-interval", "1s", "--health-timeout", "500ms",
                      "--health-retries", "1", busybox, "sleep", "60"))
    health = _status_is(cluster, slow, "unhealthy")
    assert health["Log"][0]["ExitCode"] == -1
    assert health["Log"][0]["Output"] == "Health check exceeded timeout (500ms)"

    image = f"health-{names.new('img')}"
    tar = cached_busybox_rootfs_tar(tmp_path)
    ok(cluster.docker("import", "--change", "HEALTHCHECK --interval=1s CMD true",
                      str(tar), image))
    try:
        from_image, disabled = names.new(), names.new()
        ok(cluster.docker("run", "-d", "--name", from_image, image, "sleep", "60"))
        ok(cluster.docker("run", "-d", "--name", disabled, "--no-healthcheck", image,
                          "sleep", "60"))
        _status_is(cluster, from_image, "healthy")
        assert _health(cluster, disabled) is None
        assert name_in_filter(cluster, disabled, "none")
    finally:
        cluster.docker("rm", "-f", *names.containers)
        cluster.docker("rmi", image)


def name_in_filter(cluster: Cluster, name: str, health: str) -> bool:
    return name in " ".join(_ps(cluster, "--filter", f"health={health}"))


def test_streak_survives_a_gateway_restart(make_cluster: Any, tmp_path: Path) -> None:
    cluster: Cluster = make_cluster()
    tar = cached_busybox_rootfs_tar(tmp_path)
    ok(cluster.docker("import", str(tar), "busybox:latest"))
    ok(cluster.docker("run", "-d", "--name", "sick", "--health-cmd", "false",
                      "--health-interval", "1s", "--health-retries", "100",
                      "busybox", "sleep", "120"))
    poll(lambda: _health(cluster, "sick")["FailingStreak"] >= 2, timeout=15, interval=0.2,
         what="two failed probes")
    gateway = cluster.pid_of("gateway")
    assert gateway is not None
    os.kill(gateway, signal.SIGKILL)
    def restarted() -> Any:
        pid = cluster.pid_of("gateway")
        if pid is None or pid == gateway:
            return None
        result = cluster.docker("inspect", "--format", "{{json .State.Health}}", "sick")
        return json.loads(result.stdout) if result.returncode == 0 else None

    before = poll(restarted, timeout=30, interval=0.2, what="the gateway back")
    # The run under way keeps its streak: probes go on from where they were.
    assert before["Status"] == "starting" and before["FailingStreak"] >= 2
    after = poll(
        lambda: (h := _health(cluster, "sick"))["FailingStreak"] > before["FailingStreak"] and h,
        timeout=15, interval=0.2, what="probes after the restart")
    assert after["Log"][0]["Start"] <= before["Log"][-1]["Start"]
    ok(cluster.docker("rm", "-f", "sick"))

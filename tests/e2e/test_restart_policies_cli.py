"""``--restart`` policies through the stock docker CLI (issue 6, part 8).

Timings follow dockerd's restart manager: 100 ms before the first restart,
doubling each time, reset once a run lasted 10 s. ``docker stop`` (and
``docker kill``) end the restarts for good.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.containers.times import parse_rfc3339
from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

RESTART_LOOP = "echo run; sleep 0.2; exit 0"
STOPS_ON_TERM = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


@pytest.fixture(scope="module")
def busybox(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    if cluster.docker("image", "inspect", "busybox:latest").returncode != 0:
        tar = cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))
        imported = cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest")
        assert imported.returncode == 0, imported.stderr
    return "busybox"


@pytest.fixture
def made(cluster: Cluster) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        cluster.docker("rm", "-f", name)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def run(cluster: Cluster, made: list[str], busybox: str, policy: str, command: str) -> str:
    name = f"restart-{uuid.uuid4().hex[:8]}"
    made.append(name)
    ok(cluster.docker("run", "-d", "--name", name, "--restart", policy, busybox, "sh", "-c",
                      command))
    return name


def state(cluster: Cluster, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(ok(cluster.docker("inspect", name)))
    return {**data[0]["State"], "RestartCount": data[0]["RestartCount"]}


def wait_for(cluster: Cluster, name: str, status: str, seconds: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        current = state(cluster, name)
        if current["Status"] == status or time.monotonic() > deadline:
            assert current["Status"] == status, current
            return current
        time.sleep(0.05)


def test_on_failure_gives_up_after_the_maximum(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = run(cluster, made, busybox, "on-failure:3", "exit 1")
    deadline = time.monotonic() + 20
    while state(cluster, name)["RestartCount"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    final = wait_for(cluster, name, "exited")
    assert (final["RestartCount"], final["ExitCode"], final["Running"]) == (3, 1, False)
    time.sleep(1.0)
    assert state(cluster, name)["RestartCount"] == 3
    assert ok(cluster.docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} "
                             "{{.HostConfig.RestartPolicy.MaximumRetryCount}}", name)) \
        == "on-failure 3\n"


def test_on_failure_does_not_restart_a_clean_exit(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = run(cluster, made, busybox, "on-failure", "exit 0")
    wait_for(cluster, name, "exited")
    time.sleep(0.5)
    assert state(cluster, name)["RestartCount"] == 0


def test_always_backs_off_and_stop_ends_it(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = run(cluster, made, busybox, "always", RESTART_LOOP)
    deadline = time.monotonic() + 20
    while state(cluster, name)["RestartCount"] < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    # One "run" line per start, timestamped by the log: the pauses between
    # starts grow as the delay doubles (0.1, 0.2, 0.4, 0.8 s, plus the run).
    lines = ok(cluster.docker("logs", "-t", name)).splitlines()
    starts = [parse_rfc3339(line.split()[0]) or 0.0 for line in lines]
    assert len(starts) >= 5, lines
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] < 1.0 and gaps[2] > gaps[0] and gaps[3] > gaps[1], gaps
    assert gaps[3] - gaps[0] >= 0.5, gaps
    # While it waits out a back-off it is "restarting", and a stop ends it there.
    wait_for(cluster, name, "restarting")
    ok(cluster.docker("stop", name))
    stopped = state(cluster, name)
    assert (stopped["Status"], stopped["Running"], stopped["Restarting"]) == \
        ("exited", False, False)
    count = stopped["RestartCount"]
    time.sleep(2.0)
    assert (state(cluster, name)["Status"], state(cluster, name)["RestartCount"]) == \
        ("exited", count)
    assert name not in ok(cluster.docker("ps", "--format", "{{.Names}}"))


def test_stop_of_a_running_always_container_is_for_good(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = run(cluster, made, busybox, "always", STOPS_ON_TERM)
    wait_for(cluster, name, "running")
    ok(cluster.docker("stop", name))
    time.sleep(1.0)
    after = state(cluster, name)
    assert (after["Status"], after["ExitCode"], after["RestartCount"]) == ("exited", 0, 0)


def test_kill_of_an_unless_stopped_container_is_for_good(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = run(cluster, made, busybox, "unless-stopped", STOPS_ON_TERM)
    wait_for(cluster, name, "running")
    ok(cluster.docker("kill", name))
    time.sleep(1.0)
    after = state(cluster, name)
    assert (after["Status"], after["ExitCode"], after["RestartCount"]) == ("exited", 137, 0)


def test_unless_stopped_restarts_after_its_own_exit(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = run(cluster, made, busybox, "unless-stopped", "sleep 0.3; exit 4")
    deadline = time.monotonic() + 20
    while state(cluster, name)["RestartCount"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(cluster, name)["RestartCount"] >= 2


def test_restart_command_resets_the_count(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = run(cluster, made, busybox, "on-failure:5", "sleep 0.3; exit 1")
    deadline = time.monotonic() + 20
    while state(cluster, name)["RestartCount"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    ok(cluster.docker("restart", "-t", "1", name))
    after = state(cluster, name)
    assert after["RestartCount"] == 0 and after["Status"] in ("running", "restarting"), after


def test_rm_force_of_a_restarting_container(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = run(cluster, made, busybox, "always", "exit 1")
    wait_for(cluster, name, "restarting")
    ok(cluster.docker("rm", "-f", name))
    assert cluster.docker("inspect", name).returncode == 1


def test_no_policy_stays_exited(cluster: Cluster, busybox: str, made: list[str]) -> None:
    name = run(cluster, made, busybox, "no", "exit 9")
    final = wait_for(cluster, name, "exited")
    started = parse_rfc3339(final["StartedAt"])
    time.sleep(0.5)
    again = state(cluster, name)
    assert (again["ExitCode"], again["RestartCount"]) == (9, 0)
    assert parse_rfc3339(again["StartedAt"]) == started

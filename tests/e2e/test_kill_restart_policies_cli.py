"""``docker kill -s <signal>`` and restart policies, as dockerd's daemon/kill.go decides.

Every kill counts as the user's stop for ``unless-stopped``. The exit a kill
causes is not restarted when its signal is SIGKILL or the container's
configured StopSignal, or any signal when no StopSignal is configured; with
one configured, another signal the process dies of is an exit like any other.
"""

from __future__ import annotations

import time

import pytest

from tests.support.cli_containers import (
    Names,
    inspect,
    ok,
    poll,
    state,
)
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

# PID 1 ignores signals it has no handler for: the trap makes HUP end it (code 3).
DIES_OF_HUP = "trap 'exit 3' HUP; while :; do sleep 0.1; done"


def hup_after_start(cluster: Cluster, busybox: str, names: Names, *flags: str) -> str:
    name = names.new("kill")
    ok(cluster.docker("run", "-d", "--name", name, *flags, busybox, "sh", "-c", DIES_OF_HUP))
    poll(lambda: state(cluster, name)["Running"], what="the container to run")
    time.sleep(0.3)  # the trap is set
    ok(cluster.docker("kill", "-s", "HUP", name))
    return name


@pytest.mark.parametrize("policy", ["always", "on-failure"])
def test_hup_with_another_stop_signal_is_an_exit_the_policy_restarts(
    cluster: Cluster, busybox: str, names: Names, policy: str
) -> None:
    name = hup_after_start(cluster, busybox, names, "--restart", policy, "--stop-signal", "USR1")
    restarted = poll(lambda: inspect(cluster, name)["RestartCount"] >= 1, timeout=20,
                     what="a restart after the HUP")
    assert restarted
    poll(lambda: state(cluster, name)["Running"], what="the restarted process")


def test_hup_counts_as_a_stop_for_unless_stopped(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = hup_after_start(cluster, busybox, names, "--restart", "unless-stopped",
                           "--stop-signal", "USR1")
    poll(lambda: state(cluster, name)["Status"] == "exited", what="the exit of the HUP")
    time.sleep(1.0)  # a restart would have come after 100 ms
    after = inspect(cluster, name)
    assert (after["State"]["Status"], after["State"]["ExitCode"], after["RestartCount"]) == (
        "exited", 3, 0)


def test_hup_without_a_stop_signal_is_a_stop(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = hup_after_start(cluster, busybox, names, "--restart", "always")
    poll(lambda: state(cluster, name)["Status"] == "exited", what="the exit of the HUP")
    time.sleep(1.0)
    after = inspect(cluster, name)
    assert (after["State"]["Status"], after["State"]["ExitCode"], after["RestartCount"]) == (
        "exited", 3, 0)


def test_kill_with_the_stop_signal_is_a_stop(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = hup_after_start(cluster, busybox, names, "--restart", "always", "--stop-signal", "HUP")
    poll(lambda: state(cluster, name)["Status"] == "exited", what="the exit of the HUP")
    time.sleep(1.0)
    after = inspect(cluster, name)
    assert (after["State"]["Status"], after["State"]["ExitCode"], after["RestartCount"]) == (
        "exited", 3, 0)


def test_a_signal_the_process_survives_leaves_it_running(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("kill")
    ok(cluster.docker("run", "-d", "--name", name, "--restart", "always", busybox, "sh", "-c",
                      "trap 'echo got-usr2' USR2; while :; do sleep 0.1; done"))
    poll(lambda: state(cluster, name)["Running"], what="the container to run")
    time.sleep(0.3)
    ok(cluster.docker("kill", "-s", "USR2", name))
    poll(lambda: "got-usr2" in ok(cluster.docker("logs", name)), what="the trap to run")
    assert state(cluster, name)["Status"] == "running"

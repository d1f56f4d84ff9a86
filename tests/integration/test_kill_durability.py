"""A kill's verdict on the restart policy survives ``kill -9`` of execd (issue 6).

dockerd does not restart the exit that a ``docker kill`` with SIGKILL (or the
container's StopSignal) causes, even with ``--restart always``; the exit of
another signal the process dies of is an exit like any other. execd keeps that
verdict in its runtime record before the signal goes, so an execd killed
before it handled the exit judges it the same way when it comes back.

The exit is held back by stopping the container's conmon (SIGSTOP): the
process dies of the signal, but its exit is written only once conmon goes on,
by then with execd killed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeCluster
from tests.support.cli_containers import ensure_busybox, inspect, ok, poll, state
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

LOOP = "while :; do sleep 0.1; done"
DIES_OF_HUP = "trap 'exit 3' HUP; " + LOOP
BACK_TIMEOUT = 60.0


@pytest.fixture
def cluster(
    make_cluster: MakeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    private = make_cluster()
    ensure_busybox(private, tmp_path_factory)
    yield private


def conmon_pid(cluster: Cluster, name: str) -> int:
    container_id = str(inspect(cluster, name)["Id"])
    pidfile = cluster.exec_root / "execd" / "bundles" / container_id / "conmon.pid"
    return int(pidfile.read_text().strip())


def process_gone(pid: int) -> bool:
    """Whether ``pid`` is dead (a zombie counts: its exit is not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def kill_with_execd_gone_before_the_exit(cluster: Cluster, name: str, *signal_flag: str) -> None:
    """``docker kill`` the container; kill execd -9 before it can see the exit; wait
    for a new execd."""
    pid = int(state(cluster, name)["Pid"])
    monitor = conmon_pid(cluster, name)
    os.kill(monitor, signal.SIGSTOP)
    try:
        ok(cluster.docker("kill", *signal_flag, name))
        poll(lambda: process_gone(pid), what="the container's process to die")
        # conmon is held: the exit is not written, execd has not seen it.
        assert state(cluster, name)["Status"] == "running"
        execd = cluster.pid_of("execd")
        assert execd is not None
        os.kill(execd, signal.SIGKILL)
    finally:
        os.kill(monitor, signal.SIGCONT)
    poll(lambda: cluster.pid_of("execd") not in (None, execd), timeout=BACK_TIMEOUT,
         what="the launcher to start execd again")


def test_sigkill_exit_stays_down_after_execd_restart(cluster: Cluster) -> None:
    ok(cluster.docker("run", "-d", "--name", "killed", "--restart", "always", "busybox",
                      "sh", "-c", LOOP))
    kill_with_execd_gone_before_the_exit(cluster, "killed")
    poll(lambda: state(cluster, "killed")["Status"] == "exited", timeout=BACK_TIMEOUT,
         what="the exit to be recorded by the new execd")
    time.sleep(1.5)  # a policy restart would have come after 100 ms
    after = inspect(cluster, "killed")
    assert (after["State"]["Status"], after["State"]["ExitCode"], after["RestartCount"]) == (
        "exited", 137, 0), after["State"]


def test_hup_exit_is_restarted_after_execd_restart(cluster: Cluster) -> None:
    # With a StopSignal of its own, HUP is no stop: the exit it causes is restarted.
    ok(cluster.docker("run", "-d", "--name", "hup", "--restart", "always",
                      "--stop-signal", "USR1", "busybox", "sh", "-c", DIES_OF_HUP))
    poll(lambda: state(cluster, "hup")["Running"], what="the container to run")
    time.sleep(0.3)  # the trap is set
    first_pid = int(state(cluster, "hup")["Pid"])
    kill_with_execd_gone_before_the_exit(cluster, "hup", "-s", "HUP")
    poll(lambda: inspect(cluster, "hup")["RestartCount"] >= 1, timeout=BACK_TIMEOUT,
         what="the policy restart after the HUP")
    poll(lambda: state(cluster, "hup")["Running"], what="the restarted process")
    assert int(state(cluster, "hup")["Pid"]) != first_pid

"""create, start, stop, kill, restart, wait, rm and inspect's State through the docker CLI.

Exit codes follow dockerd: 128 + the signal that ended the process (137 after
SIGKILL, 143 after SIGTERM), the process's own code otherwise.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli_containers import (
    Names,
    gone,
    inspect,
    moment,
    ok,
    poll,
    running,
    state,
)
from tests.support.cluster import DOCKER_CLI, Cluster

pytestmark = pytest.mark.root

ZERO_TIME = "0001-01-01T00:00:00Z"
TRAPS_TERM = "trap 'exit 143' TERM; echo ready; while :; do sleep 0.05; done"


def started_trap(cluster: Cluster, name: str, busybox: str, *flags: str) -> None:
    """A container whose shell handles SIGTERM, running once it said so."""
    ok(cluster.docker("run", "-d", "--name", name, *flags, busybox, "sh", "-c", TRAPS_TERM))
    poll(lambda: "ready" in ok(cluster.docker("logs", name)), what="the trap to be set")


def test_create_then_start_attached_with_stdin(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("created")
    ok(cluster.docker("create", "-i", "--name", name, busybox, "sh", "-c",
                      "read line; echo got:$line; exit 4"))
    body = inspect(cluster, name)
    assert body["State"]["Status"] == "created"
    assert body["State"]["StartedAt"] == ZERO_TIME and body["State"]["Pid"] == 0
    result = cluster.docker("start", "-a", "-i", name, input="hello\n")
    assert (result.returncode, result.stdout) == (4, "got:hello\n")
    assert state(cluster, name)["ExitCode"] == 4


def test_start_attached_of_an_exited_container_runs_it_again(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("again")
    assert cluster.docker("run", "--name", name, busybox, "sh", "-c",
                          "echo run; exit 2").stdout == "run\n"
    first = state(cluster, name)
    again = cluster.docker("start", "-a", name)
    assert (again.returncode, again.stdout) == (2, "run\n")
    second = state(cluster, name)
    assert moment(second["StartedAt"]) > moment(first["StartedAt"])
    assert ok(cluster.docker("logs", name)) == "run\nrun\n"
    # Without -a, start prints the name and returns at once.
    assert ok(cluster.docker("start", name)) == f"{name}\n"


def test_inspect_state_through_run_stop_and_kill(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("states")
    before = time.time()
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sleep", "30"))
    live = state(cluster, name)
    assert live["Status"] == "running" and live["Running"] is True
    assert (live["Paused"], live["Restarting"], live["OOMKilled"], live["Dead"]) == (
        False, False, False, False)
    assert live["Pid"] > 0 and live["ExitCode"] == 0 and live["Error"] == ""
    assert before - 1 < moment(live["StartedAt"]) < time.time() + 1
    assert live["FinishedAt"] == ZERO_TIME
    ok(cluster.docker("kill", name))
    killed = state(cluster, name)
    assert killed["Status"] == "exited" and killed["Running"] is False
    assert killed["Pid"] == 0 and killed["ExitCode"] == 137 and killed["OOMKilled"] is False
    assert killed["StartedAt"] == live["StartedAt"]
    assert moment(killed["FinishedAt"]) >= moment(killed["StartedAt"])
    ps = ok(cluster.docker("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}"))
    assert ps.startswith("Exited (137) ")


def test_stop_sends_sigterm_and_reports_143(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("term")
    started_trap(cluster, name, busybox)
    started = time.monotonic()
    assert ok(cluster.docker("stop", name)) == f"{name}\n"
    assert time.monotonic() - started < 5
    assert state(cluster, name)["ExitCode"] == 143
    # Stopping a stopped container is no error.
    assert ok(cluster.docker("stop", name)) == f"{name}\n"


def test_stop_with_time_and_signal(cluster: Cluster, busybox: str, names: Names) -> None:
    stubborn = names.new("stubborn")
    ok(cluster.docker("run", "-d", "--name", stubborn, busybox, "sleep", "30"))
    started = time.monotonic()
    ok(cluster.docker("stop", "-t", "1", stubborn))  # PID 1 ignores SIGTERM
    assert 0.9 < time.monotonic() - started < 5
    assert state(cluster, stubborn)["ExitCode"] == 137
    signalled = names.new("signalled")
    ok(cluster.docker("run", "-d", "--name", signalled, busybox, "sh", "-c",
                      "trap 'exit 12' USR2; echo ready; while :; do sleep 0.05; done"))
    poll(lambda: "ready" in ok(cluster.docker("logs", signalled)), what="the trap")
    ok(cluster.docker("stop", "-s", "USR2", signalled))
    assert state(cluster, signalled)["ExitCode"] == 12


def test_kill_with_a_signal_and_its_refusals(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("kill")
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sh", "-c",
                      "trap 'echo got-hup' HUP; trap 'exit 10' USR1; echo ready; "
                      "while :; do sleep 0.05; done"))
    poll(lambda: "ready" in ok(cluster.docker("logs", name)), what="the traps")
    assert ok(cluster.docker("kill", "-s", "HUP", name)) == f"{name}\n"
    poll(lambda: "got-hup" in ok(cluster.docker("logs", name)), what="the HUP trap")
    assert running(cluster, name)
    bad = cluster.docker("kill", "-s", "NOPE", name)
    assert bad.returncode == 1 and "Invalid signal: NOPE" in bad.stderr
    ok(cluster.docker("kill", "--signal", "10", name))
    assert ok(cluster.docker("wait", name)) == "10\n"
    stopped = cluster.docker("kill", name)
    container_id = inspect(cluster, name)["Id"]
    assert stopped.returncode == 1
    assert stopped.stderr.strip() == (
        f"Error response from daemon: cannot kill container: {name}: container "
        f"{container_id} is not running")


def test_restart_starts_a_new_process(cluster: Cluster, busybox: str, names: Names) -> None:
    name = names.new("restart")
    started_trap(cluster, name, busybox)
    first = state(cluster, name)
    assert ok(cluster.docker("restart", "-t", "2", name)) == f"{name}\n"
    second = state(cluster, name)
    assert second["Running"] is True and second["Pid"] != first["Pid"]
    assert moment(second["StartedAt"]) > moment(first["StartedAt"])
    assert inspect(cluster, name)["RestartCount"] == 0  # a user's restart is not counted
    poll(lambda: ok(cluster.docker("logs", name)) == "ready\nready\n", what="the second run")
    ok(cluster.docker("stop", name))
    ok(cluster.docker("restart", name))  # a stopped container is simply started
    assert running(cluster, name)


def test_wait_blocks_until_the_exit_and_prints_the_code(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("wait")
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sh", "-c", "sleep 0.5; exit 9"))
    started = time.monotonic()
    assert ok(cluster.docker("wait", name)) == "9\n"
    assert time.monotonic() - started > 0.2
    assert ok(cluster.docker("wait", name)) == "9\n"  # an exited one answers at once
    missing = cluster.docker("wait", "dockyard-no-such-container")
    assert missing.returncode == 1
    assert "No such container: dockyard-no-such-container" in missing.stderr


def test_rm_refuses_a_running_container_and_force_removes_it(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("rm")
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sleep", "30"))
    pid = state(cluster, name)["Pid"]
    refused = cluster.docker("rm", name)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f'Error response from daemon: cannot remove container "/{name}": container is running: '
        "stop the container before removing or force remove")
    assert running(cluster, name)
    assert ok(cluster.docker("rm", "-f", name)) == f"{name}\n"
    assert gone(cluster, name)
    poll(lambda: not _alive(pid), what="the process to go")
    missing = cluster.docker("rm", name)
    assert missing.returncode == 1 and f"No such container: {name}" in missing.stderr


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_rm_v_removes_anonymous_volumes_only(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    named = names.volume("keep")
    name = names.new("rmv")
    ok(cluster.docker("run", "--name", name, "-v", "/anonymous", "-v", f"{named}:/named",
                      busybox, "true"))
    mounts = {m["Destination"]: m["Name"] for m in inspect(cluster, name)["Mounts"]}
    anonymous = mounts["/anonymous"]
    assert len(anonymous) == 64 and mounts["/named"] == named
    ok(cluster.docker("rm", "-v", name))
    assert cluster.docker("volume", "inspect", anonymous).returncode == 1
    assert ok(cluster.docker("volume", "inspect", "-f", "{{.Name}}", named)) == f"{named}\n"


def test_create_makes_and_holds_its_volumes(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    # dockerd creates a container's volumes at `docker create` and counts it as
    # their user from then on, started or not.
    named = names.volume("held")
    name = names.new("holds")
    ok(cluster.docker("create", "--name", name, "-v", "/anonymous", "-v", f"{named}:/named",
                      busybox, "cat", "/named/f", "/anonymous/f"))
    mounts = {m["Destination"]: m["Name"] for m in inspect(cluster, name)["Mounts"]}
    assert mounts["/named"] == named and len(mounts["/anonymous"]) == 64, mounts
    listed = ok(cluster.docker("volume", "ls", "-q")).split()
    assert named in listed and mounts["/anonymous"] in listed
    refused = cluster.docker("volume", "rm", named)
    assert refused.returncode == 1 and "volume is in use" in refused.stderr, refused.stderr
    source = tmp_path / "f"
    source.write_text("copied before the first start\n")
    for destination in ("/named/f", "/anonymous/f"):  # docker cp reaches the volumes
        ok(cluster.docker("cp", str(source), f"{name}:{destination}"))
    assert ok(cluster.docker("start", "-a", name)) == "copied before the first start\n" * 2
    assert {m["Destination"]: m["Name"] for m in inspect(cluster, name)["Mounts"]} == mounts
    ok(cluster.docker("rm", "-v", name))
    assert cluster.docker("volume", "inspect", mounts["/anonymous"]).returncode == 1
    ok(cluster.docker("volume", "rm", named))


def test_rm_without_v_keeps_the_anonymous_volume(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("rmkeep")
    ok(cluster.docker("run", "--name", name, "-v", "/anonymous", busybox, "true"))
    anonymous = inspect(cluster, name)["Mounts"][0]["Name"]
    names.volumes.append(anonymous)
    ok(cluster.docker("rm", name))
    assert ok(cluster.docker("volume", "inspect", "-f", "{{.Name}}", anonymous)).strip() == (
        anonymous)


def test_exit_codes_after_signals(cluster: Cluster, busybox: str, names: Names) -> None:
    killed = names.new("k9")
    ok(cluster.docker("run", "-d", "--name", killed, busybox, "sleep", "30"))
    ok(cluster.docker("kill", killed))
    assert ok(cluster.docker("wait", killed)) == "137\n"
    termed = names.new("k15")
    started_trap(cluster, termed, busybox)
    ok(cluster.docker("kill", "-s", "TERM", termed))
    assert ok(cluster.docker("wait", termed)) == "143\n"
    # An attached CLI exits with the code of the signal that ended the container.
    attached = names.new("attached")
    ok(cluster.docker("create", "--name", attached, busybox, "sleep", "30"))
    waiting = subprocess.Popen(
        [DOCKER_CLI, "-H", cluster.docker_host, "start", "-a", attached],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        poll(lambda: running(cluster, attached), what="the attached start")
        ok(cluster.docker("kill", attached))
        assert waiting.wait(timeout=30) == 137
    finally:
        waiting.kill()
        waiting.wait()

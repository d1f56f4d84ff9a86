"""``docker logs`` and ``docker attach`` to output, through the stock docker CLI.

Without a TTY, stdout and stderr arrive apart (the CLI prints each to its
own stream); with one, the log is the terminal's bytes, CRLF included.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime

import pytest

from tests.support.cli_containers import (
    Names,
    docker_bytes,
    moment,
    ok,
    poll,
    running,
)
from tests.support.cluster import DOCKER_CLI, Cluster

pytestmark = pytest.mark.root

FIVE_LINES = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done"


def finished(cluster: Cluster, busybox: str, names: Names, script: str, *flags: str) -> str:
    name = names.new("logs")
    ok(cluster.docker("run", "--name", name, *flags, busybox, "sh", "-c", script))
    return name


def test_logs_keep_stdout_and_stderr_apart(cluster: Cluster, busybox: str, names: Names) -> None:
    name = finished(cluster, busybox, names, FIVE_LINES)
    result = cluster.docker("logs", name)
    assert result.stdout == "".join(f"out{i}\n" for i in range(1, 6))
    assert result.stderr == "".join(f"err{i}\n" for i in range(1, 6))


def test_tail_counts_lines_of_both_streams(cluster: Cluster, busybox: str, names: Names) -> None:
    # Pauses order the lines across the two pipes.
    name = finished(cluster, busybox, names,
                    "echo out1; echo out2; echo out3; echo out4; sleep 0.1; echo err >&2; "
                    "sleep 0.1; echo out5")
    tail = cluster.docker("logs", "--tail", "2", name)
    assert (tail.stdout, tail.stderr) == ("out5\n", "err\n")
    assert cluster.docker("logs", "--tail", "0", name).stdout == ""
    assert cluster.docker("logs", "--tail", "all", name).stdout.count("\n") == 5


def test_timestamps_since_and_until(cluster: Cluster, busybox: str, names: Names) -> None:
    name = finished(cluster, busybox, names,
                    "echo early; sleep 1.2; echo late")
    stamped = ok(cluster.docker("logs", "-t", name)).splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["early", "late"]
    early_at, late_at = (moment(line.split(" ", 1)[0]) for line in stamped)
    assert stamped[0].split(" ", 1)[0].endswith("Z") and len(stamped[0].split(" ")[0]) == 30
    assert 1.0 < late_at - early_at < 5
    middle = datetime.fromtimestamp((early_at + late_at) / 2, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    assert ok(cluster.docker("logs", "--since", middle, name)) == "late\n"
    assert ok(cluster.docker("logs", "--until", middle, name)) == "early\n"
    # Relative durations count back from now.
    assert ok(cluster.docker("logs", "--since", "1h", name)) == "early\nlate\n"
    assert ok(cluster.docker("logs", "--until", "1h", name)) == ""
    # Unix seconds, as dockerd also takes them.
    assert ok(cluster.docker("logs", "--since", f"{late_at - 0.05:.3f}", name)) == "late\n"


def test_follow_streams_while_the_container_writes_and_ends_with_it(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("follow")
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sh", "-c",
                      "echo first; sleep 0.8; echo second; sleep 0.4"))
    follower = subprocess.Popen(
        [DOCKER_CLI, "-H", cluster.docker_host, "logs", "-f", name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert follower.stdout is not None
        started = time.monotonic()
        assert follower.stdout.readline() == b"first\n"
        assert follower.stdout.readline() == b"second\n"
        # "second" came as written, not after the container ended.
        assert time.monotonic() - started < 2
        assert follower.wait(timeout=10) == 0
        assert follower.stdout.read() == b""
    finally:
        follower.kill()
        follower.wait()
    assert not running(cluster, name)


def test_follow_with_tail_of_a_running_container(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("tailf")
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sh", "-c",
                      "echo a; echo b; echo c; sleep 0.5; echo d"))
    poll(lambda: ok(cluster.docker("logs", name)) == "a\nb\nc\n", what="three lines")
    out = cluster.docker("logs", "-f", "--tail", "1", name, timeout=20)
    assert (out.returncode, out.stdout) == (0, "c\nd\n")


def test_logs_of_a_tty_container_are_the_terminal_bytes(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = finished(cluster, busybox, names, "echo out; echo err >&2", "-t")
    result = docker_bytes(cluster, "logs", name)
    # One stream, as the terminal showed it: CRLF, stderr folded into stdout.
    assert (result.stdout, result.stderr) == (b"out\r\nerr\r\n", b"")


def test_logs_of_unknown_container(cluster: Cluster) -> None:
    result = cluster.docker("logs", "dockyard-no-such-container")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error response from daemon: No such container: dockyard-no-such-container")


def test_attach_shows_output_of_a_running_container_and_its_exit_code(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("attach")
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sh", "-c",
                      "echo before; sleep 1; echo after; echo oops >&2; exit 3"))
    poll(lambda: "before" in ok(cluster.docker("logs", name)), what="the first line")
    result = cluster.docker("attach", name, timeout=20)
    # Only what was written after attaching; the CLI exits with the container's code.
    assert (result.returncode, result.stdout, result.stderr) == (3, "after\n", "oops\n")


def test_attach_refuses_a_stopped_container(cluster: Cluster, busybox: str, names: Names) -> None:
    name = finished(cluster, busybox, names, "true")
    result = cluster.docker("attach", name)
    assert result.returncode == 1
    assert "You cannot attach to a stopped container, start it first" in result.stderr

"""``docker exec`` through the stock docker CLI: output, exit codes, flags, terminals."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.cli_containers import (
    Names,
    docker_bytes,
    inspect,
    ok,
    poll,
)
from tests.support.cluster import DOCKER_CLI, Cluster
from tests.support.pty_cli import PtyCommand

pytestmark = pytest.mark.root

DEFAULT_CAPS = 0x00000000A80425FB


@pytest.fixture
def box(cluster: Cluster, busybox: str, names: Names) -> str:
    """A running container to exec into."""
    name = names.new("box")
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sleep", "60"))
    return name


def cap_eff(status: str) -> int:
    line = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    return int(line.split()[1], 16)


def test_exec_output_streams_and_exit_code(cluster: Cluster, box: str) -> None:
    result = cluster.docker("exec", box, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")


def test_exec_env_workdir_and_user(cluster: Cluster, box: str) -> None:
    out = ok(cluster.docker("exec", "-e", "X=from exec", "-w", "/etc", "-u", "1000:1000", box,
                            "sh", "-c", 'echo "$X|$(pwd)|$(id -u):$(id -g)"'))
    assert out == "from exec|/etc|1000:1000\n"
    named = ok(cluster.docker("exec", "-u", "nobody", box, "id", "-un"))
    assert named == "nobody\n"


def test_exec_interactive_reads_piped_stdin(cluster: Cluster, box: str) -> None:
    result = cluster.docker("exec", "-i", box, "sh", "-c", "cat; echo end", input="piped\n")
    assert (result.returncode, result.stdout) == (0, "piped\nend\n")


def test_exec_it_under_a_terminal(cluster: Cluster, box: str) -> None:
    with PtyCommand(cluster, "exec", "-it", box, "sh") as cli:
        cli.expect(b"# ")
        cli.send(b"tty; stty size; echo $((5*5)); exit 5\r")
        assert cli.wait() == 5
    assert b"/dev/pts/" in cli.output
    assert b"\r\n24 80\r\n" in cli.output and b"\r\n25\r\n" in cli.output


def test_exec_detached_runs_in_the_background(cluster: Cluster, box: str) -> None:
    result = cluster.docker("exec", "-d", box, "sh", "-c", "sleep 0.3; echo done > /tmp/flag")
    assert (result.returncode, result.stdout) == (0, "")
    assert cluster.docker("exec", box, "cat", "/tmp/flag").returncode == 1  # not yet
    poll(lambda: cluster.docker("exec", box, "cat", "/tmp/flag").stdout == "done\n",
         what="the detached exec to finish")


def test_exec_privileged_gets_every_capability(cluster: Cluster, box: str) -> None:
    own = Path("/proc/self/status").read_text()
    bounding = int(next(line for line in own.splitlines()
                        if line.startswith("CapBnd:")).split()[1], 16)
    plain = ok(cluster.docker("exec", box, "cat", "/proc/self/status"))
    assert cap_eff(plain) == DEFAULT_CAPS
    privileged = ok(cluster.docker("exec", "--privileged", box, "cat", "/proc/self/status"))
    assert cap_eff(privileged) == bounding


@pytest.mark.parametrize(("command", "code", "words"), [
    ("nosuchcommand", 127, 'exec: "nosuchcommand": executable file not found in $PATH'),
    ("/etc/passwd", 126, 'exec: "/etc/passwd": permission denied'),
])
def test_exec_of_a_missing_or_unrunnable_command_prints_only_dockers_line(
    cluster: Cluster, box: str, command: str, code: int, words: str
) -> None:
    result = docker_bytes(cluster, "exec", box, command)
    assert result.returncode == code
    assert result.stdout == (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        f"{words}: unknown\r\n").encode()
    assert result.stderr == b""


def test_exec_ids_are_listed_while_they_run(cluster: Cluster, box: str) -> None:
    assert inspect(cluster, box)["ExecIDs"] is None
    ok(cluster.docker("exec", "-d", box, "sleep", "1"))
    exec_ids = poll(lambda: inspect(cluster, box)["ExecIDs"], what="the exec to be listed")
    assert len(exec_ids) == 1 and len(exec_ids[0]) == 64
    poll(lambda: inspect(cluster, box)["ExecIDs"] is None, what="the exec to end")


@pytest.mark.parametrize("interactive", [False, True])
def test_an_exec_runs_on_when_its_client_goes(
    cluster: Cluster, box: str, interactive: bool
) -> None:
    """As dockerd: a killed ``docker exec`` leaves its process running (stdin at EOF); its
    end is recorded (the exec is no longer listed, its effects happen)."""
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    env.pop("DOCKER_CONTEXT", None)
    # Output after the client went: the gateway finds the client gone and lets go.
    script = "cat > /dev/null; touch /tmp/after-eof" if interactive else (
        "for i in $(seq 30); do echo tick; sleep 0.05; done; touch /tmp/after-ticks")
    flags = ["-i"] if interactive else []
    with subprocess.Popen([DOCKER_CLI, "exec", *flags, box, "sh", "-c", script], env=env,
                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as client:
        poll(lambda: inspect(cluster, box)["ExecIDs"], what="the exec to start")
        client.kill()
    marker = "/tmp/after-eof" if interactive else "/tmp/after-ticks"
    poll(lambda: cluster.docker("exec", box, "test", "-e", marker).returncode == 0,
         what="the exec to carry on without its client")
    poll(lambda: inspect(cluster, box)["ExecIDs"] is None, what="the exec's end to be recorded")


def test_exec_into_a_stopped_container_is_refused(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("stopped")
    ok(cluster.docker("run", "--name", name, busybox, "true"))
    result = cluster.docker("exec", name, "true")
    container_id = inspect(cluster, name)["Id"]
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error response from daemon: container {container_id} is not running")

"""Edges of the container lifecycle where dockerd's behaviour is easy to miss, via the CLI.

- ``--network container:<x>`` takes x's hostname (Config.Hostname and inside).
- A start that fails before the process runs leaves the container "created",
  with ExitCode 128 and the error in State.Error; the CLI exits 125.
- Exec sessions end with their container and go with it.
- A StdinOnce container's stdin closes when the client that gave it stdin
  ends it, not when another attached client leaves.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from functools import partial

import pytest

from tests.support.cli_containers import (
    Names,
    inspect,
    ok,
    poll,
    state,
)
from tests.support.cluster import DOCKER_CLI, Cluster

pytestmark = pytest.mark.root


def cli(cluster: Cluster, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.Popen([DOCKER_CLI, *args], env=env, text=True, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# ---- --network container:<x> --------------------------------------------------------


def test_network_container_shares_the_hostname(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    owner, joiner = names.new("netowner"), names.new("netjoin")
    ok(cluster.docker("run", "-d", "--name", owner, "--hostname", "alpha",
                      "--domainname", "example.org", busybox, "sleep", "60"))
    ok(cluster.docker("run", "-d", "--name", joiner, "--network", f"container:{owner}",
                      busybox, "sleep", "60"))
    config = inspect(cluster, joiner)["Config"]
    assert (config["Hostname"], config["Domainname"]) == ("alpha", "example.org")
    assert ok(cluster.docker("exec", joiner, "hostname")).strip() == "alpha"
    once = ok(cluster.docker("run", "--rm", "--network", f"container:{owner}", busybox,
                             "hostname"))
    assert once.strip() == "alpha"
    refused = cluster.docker("run", "--network", f"container:{owner}", "--hostname", "beta",
                             busybox, "true")
    assert refused.returncode == 125
    assert "conflicting options: hostname and the network mode" in refused.stderr


def test_network_container_takes_the_generated_hostname(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    owner, joiner = names.new("netowner"), names.new("netjoin")
    owner_id = ok(cluster.docker("run", "-d", "--name", owner, busybox, "sleep", "60")).strip()
    ok(cluster.docker("run", "-d", "--name", joiner, "--network", f"container:{owner}",
                      busybox, "sleep", "60"))
    assert inspect(cluster, joiner)["Config"]["Hostname"] == owner_id[:12]
    assert ok(cluster.docker("exec", joiner, "hostname")).strip() == owner_id[:12]


# ---- starts that fail in the gateway --------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_start_refused_for_a_taken_port_leaves_created_with_the_error(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    port = free_port()
    holder, late = names.new("portholder"), names.new("portlate")
    ok(cluster.docker("run", "-d", "--name", holder, "-p", f"127.0.0.1:{port}:80", busybox,
                      "sleep", "60"))
    result = cluster.docker("run", "-d", "--name", late, "-p", f"127.0.0.1:{port}:80", busybox,
                            "sleep", "60")
    assert result.returncode == 125, (result.stdout, result.stderr)
    assert result.stderr.startswith("docker: Error response from daemon: "), result.stderr
    message = result.stderr.removeprefix("docker: Error response from daemon: ").splitlines()[0]
    after = state(cluster, late)
    assert (after["Status"], after["Running"], after["ExitCode"]) == ("created", False, 128)
    assert after["Error"] and after["Error"] in message, (after["Error"], message)
    # Once the port is free, the same container starts, and the error is gone.
    ok(cluster.docker("rm", "-f", holder))
    ok(cluster.docker("start", late))
    after = state(cluster, late)
    assert (after["Status"], after["ExitCode"], after["Error"]) == ("running", 0, "")


def test_start_with_a_vanished_bind_source_is_refused_before_anything(
    cluster: Cluster, busybox: str, names: Names, tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = tmp_path_factory.mktemp("bindsrc")
    name = names.new("bindgone")
    ok(cluster.docker("create", "--name", name, "--mount",
                      f"type=bind,source={source},target=/data", busybox, "true"))
    source.rmdir()
    result = cluster.docker("start", name)
    assert result.returncode == 1, (result.stdout, result.stderr)  # docker start: 1, not 125
    # As dockerd (checked against 20.10): ContainerStart validates the mounts again
    # (verifyContainerSettings) before it starts anything, so the state is untouched.
    assert ("Error response from daemon: invalid mount config for type \"bind\": "
            f"bind source path does not exist: {source}") in result.stderr
    after = state(cluster, name)
    assert (after["Status"], after["ExitCode"], after["Error"]) == ("created", 0, "")


# ---- exec sessions and their container ------------------------------------------------


def exec_state(cluster: Cluster, exec_id: str) -> dict[str, object]:
    client = cluster.client()
    try:
        found: dict[str, object] = client.api.exec_inspect(exec_id)
        return found
    finally:
        client.close()


def exec_running(cluster: Cluster, exec_id: str) -> bool:
    return exec_state(cluster, exec_id)["Running"] is True


def exec_ended(cluster: Cluster, exec_id: str) -> bool:
    return exec_state(cluster, exec_id)["Running"] is False


@pytest.mark.parametrize("ending", ["stop", "own exit"])
@pytest.mark.parametrize("pid_mode", ["private", "host"])
def test_execs_end_with_their_container_and_go_with_it(
    cluster: Cluster, busybox: str, names: Names, ending: str, pid_mode: str
) -> None:
    import docker.errors

    name = names.new("execs")
    pid_flags = ("--pid", "host") if pid_mode == "host" else ()
    lifetime = "60" if ending == "stop" else "4"
    ok(cluster.docker("run", "-d", "--name", name, *pid_flags, busybox, "sleep", lifetime))
    client = cluster.client()
    try:
        running = client.api.exec_create(name, ["sleep", "300"])["Id"]
        client.api.exec_start(running, detach=True)
        with_tty = client.api.exec_create(name, ["sleep", "300"], tty=True)["Id"]
        client.api.exec_start(with_tty, detach=True)
        never = client.api.exec_create(name, ["true"])["Id"]
        attached = cli(cluster, "exec", name, "sleep", "300")
        for exec_id in (running, with_tty):
            poll(partial(exec_running, cluster, exec_id), what="the exec to run")
        time.sleep(0.5)
        if ending == "stop":
            ok(cluster.docker("stop", "-t", "1", name))
        assert attached.wait(timeout=20) == 137  # killed with its container (SIGKILL)
        for exec_id in (running, with_tty):
            poll(partial(exec_ended, cluster, exec_id), timeout=20,
                 what="the exec to end with its container")
            ended = exec_state(cluster, exec_id)
            assert ended["ExitCode"] is not None and ended["Pid"] == 0, ended
        untouched = exec_state(cluster, never)
        assert untouched["Running"] is False
        ok(cluster.docker("rm", name))
        for exec_id in (running, with_tty, never):
            with pytest.raises(docker.errors.NotFound):
                client.api.exec_inspect(exec_id)
    finally:
        client.close()


# ---- stdin of a StdinOnce container with several clients ------------------------------


def test_stdin_stays_open_when_another_client_leaves(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("stdinonce")
    # `docker run -i` without a terminal: OpenStdin and StdinOnce.
    runner = cli(cluster, "run", "-i", "--name", name, busybox, "sh", "-c",
                 "while read line; do echo got-$line; done; echo stdin-closed",
                 stdin=subprocess.PIPE)
    assert runner.stdin is not None and runner.stdout is not None
    poll(lambda: cluster.docker("inspect", "-f", "{{.State.Running}}", name).stdout == "true\n",
         what="the container to run")
    watcher = cli(cluster, "attach", "--no-stdin", "--sig-proxy=false", name)
    time.sleep(1.0)  # attached
    watcher.kill()  # the second client leaves
    watcher.wait(timeout=20)
    time.sleep(0.5)
    runner.stdin.write("one\n")
    runner.stdin.flush()
    assert runner.stdout.readline() == "got-one\n"
    assert state(cluster, name)["Running"] is True
    runner.stdin.close()  # the stdin client's EOF closes the container's stdin
    assert runner.wait(timeout=30) == 0
    assert runner.stdout.read() == "stdin-closed\n"

"""Containers and execs through docker-py's high-level client, as programs drive Docker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


@pytest.fixture
def client(cluster: Cluster) -> Iterator[docker.DockerClient]:
    """A client; every container labelled with this test's label is removed afterwards."""
    made = cluster.client()
    yield made
    for container in made.containers.list(all=True, filters={"label": "dy-e2e-dockerpy"}):
        container.remove(force=True, v=True)
    made.close()


LABELS = {"dy-e2e-dockerpy": "1"}


def test_run_returns_output_and_raises_on_failure(
    client: docker.DockerClient, busybox: str
) -> None:
    before = len(client.containers.list(all=True))
    assert client.containers.run(busybox, ["sh", "-c", "echo out; echo err >&2"],
                                 remove=True, labels=LABELS) == b"out\n"
    both = client.containers.run(busybox, ["sh", "-c", "echo out; echo err >&2"],
                                 remove=True, stderr=True, labels=LABELS)
    assert sorted(both.splitlines()) == [b"err", b"out"]
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run(busybox, ["sh", "-c", "echo bad >&2; exit 4"], remove=True,
                              labels=LABELS)
    assert failed.value.exit_status == 4 and failed.value.stderr == b"bad\n"
    assert len(client.containers.list(all=True)) == before
    with pytest.raises(docker.errors.APIError) as missing:
        client.containers.run(busybox, "nosuchcommand", labels=LABELS)
    assert missing.value.status_code == 400
    assert "executable file not found" in str(missing.value.explanation)


def test_create_start_wait_logs_remove(client: docker.DockerClient, busybox: str) -> None:
    name = f"dy-py-{uuid.uuid4().hex[:8]}"
    container = client.containers.create(
        busybox, ["sh", "-c", "echo hello $WHO; exit 3"], name=name,
        environment={"WHO": "py"}, labels=LABELS)
    assert container.status == "created" and container.name == name
    container.start()
    assert container.wait(timeout=30) == {"Error": None, "StatusCode": 3}
    assert container.logs() == b"hello py\n"
    stamped = container.logs(timestamps=True).decode()
    assert stamped.endswith(" hello py\n") and stamped[:4].isdigit()
    container.reload()
    assert container.status == "exited" and container.attrs["State"]["ExitCode"] == 3
    container.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_attach_before_start_gets_all_output(client: docker.DockerClient, busybox: str) -> None:
    container = client.containers.create(
        busybox, ["sh", "-c", "echo one; echo two >&2; sleep 0.2; echo three"], labels=LABELS)
    stream = container.attach(stream=True, stdout=True, stderr=True, logs=True)
    container.start()
    assert b"".join(stream) == b"one\ntwo\nthree\n"
    assert container.wait(timeout=30)["StatusCode"] == 0


def test_detached_run_stop_kill_and_restart(client: docker.DockerClient, busybox: str) -> None:
    container = client.containers.run(busybox, ["sleep", "30"], detach=True, labels=LABELS)
    container.reload()
    assert container.status == "running"
    container.kill(signal="SIGKILL")
    assert container.wait(timeout=30)["StatusCode"] == 137
    container.restart(timeout=1)
    container.reload()
    assert container.status == "running"
    container.stop(timeout=1)
    container.reload()
    assert container.status == "exited" and container.attrs["State"]["ExitCode"] == 137


def test_exec_run_forms(client: docker.DockerClient, busybox: str) -> None:
    container = client.containers.run(busybox, ["sleep", "30"], detach=True, labels=LABELS)
    plain = container.exec_run(["sh", "-c", "echo x; exit 2"])
    assert (plain.exit_code, plain.output) == (2, b"x\n")
    settings = container.exec_run(["sh", "-c", 'echo "$V|$(pwd)|$(id -u)"'],
                                  environment={"V": "v1"}, workdir="/etc", user="1000")
    assert (settings.exit_code, settings.output) == (0, b"v1|/etc|1000\n")
    split = container.exec_run(["sh", "-c", "echo a; echo b >&2"], demux=True)
    assert split.output == (b"a\n", b"b\n")
    streamed = container.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; done"],
                                  stream=True)
    assert b"".join(streamed.output) == b"1\n2\n3\n"
    missing = container.exec_run("nosuchcommand")
    assert missing.exit_code == 127
    assert missing.output == (b'OCI runtime exec failed: exec failed: unable to start container '
                              b'process: exec: "nosuchcommand": executable file not found in '
                              b'$PATH: unknown\r\n')
    detached = container.exec_run(["sleep", "1"], detach=True)
    assert detached.exit_code is None and not detached.output
    exec_ids = client.api.inspect_container(container.id)["ExecIDs"]
    assert isinstance(exec_ids, list) and len(exec_ids) == 1
    info = client.api.exec_inspect(exec_ids[0])
    assert info["Running"] is True and info["Pid"] > 0 and info["ContainerID"] == container.id
    assert info["ProcessConfig"]["entrypoint"] == "sleep"


def test_exec_inspect_after_the_end(client: docker.DockerClient, busybox: str) -> None:
    container = client.containers.run(busybox, ["sleep", "30"], detach=True, labels=LABELS)
    exec_id = client.api.exec_create(container.id, ["sh", "-c", "exit 6"])["Id"]
    assert client.api.exec_inspect(exec_id)["Running"] is False
    assert client.api.exec_inspect(exec_id)["ExitCode"] is None
    client.api.exec_start(exec_id)
    info = client.api.exec_inspect(exec_id)
    assert (info["Running"], info["ExitCode"], info["Pid"]) == (False, 6, 0)
    with pytest.raises(docker.errors.NotFound):
        client.api.exec_inspect("0" * 64)
    container.stop(timeout=0)
    with pytest.raises(docker.errors.APIError) as stopped:
        container.exec_run("true")
    assert stopped.value.status_code == 409

"""Every answer docker-py gets from Dockyard is what the Engine API spec documents.

Each test drives one area through docker-py's high-level collections and the
low-level APIClient methods behind them, records every HTTP answer (a response
hook on the client's session, see tests/support/api_capture.py) and checks each
against engine-api-v1.47.yaml for its operation and status: bodies against the
schemas, errors as ErrorResponse sent as application/json. Places where dockerd
itself differs from its spec are allowed in one list (tests/unit/spec_schema.py).
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.support.api_capture import ResponseRecorder
from tests.support.api_proxy import RecordingProxy
from tests.support.cluster import Cluster, private_cluster_fixture
from tests.support.registry import Registry
from tests.unit.spec_schema import STATS_OMITEMPTY, response_example, validate_example_shape

pytestmark = pytest.mark.root

# A cluster of its own: the tests prune, and nothing of other tests must go.
cluster = private_cluster_fixture()

LABEL = "dy-conformance"
STATS = "/containers/{id}/stats"


@pytest.fixture
def recorder(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             answers_match_the_spec: ResponseRecorder,
             ) -> Iterator[tuple[docker.DockerClient, ResponseRecorder]]:
    """A client whose every answer is recorded (by tests/e2e/conftest.py, which also
    checks them all when the test ends); what the test made is removed after."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # never the host's logins
    client = cluster.client()
    yield client, answers_match_the_spec
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters={"label": LABEL}):
        network.remove()
    for volume in client.volumes.list(filters={"label": LABEL}):
        volume.remove(force=True)
    client.close()


def assert_conforms(recorded: ResponseRecorder, expected: set[str]) -> None:
    """No answer differs from the spec, and every operation in ``expected`` was seen."""
    problems = recorded.problems()
    assert not problems, (f"{len(problems)} answers differ from the spec:\n"
                          + "\n".join(f"  {p}" for p in problems))
    missing = expected - recorded.operations()
    assert not missing, f"operations never exercised: {sorted(missing)}"


def tar_with(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def wait_for_output(container: docker.models.containers.Container, text: bytes) -> None:
    deadline = time.monotonic() + 30
    while text not in container.logs():
        assert time.monotonic() < deadline, f"{text!r} never appeared in the logs"
        time.sleep(0.1)


def test_containers(recorder: tuple[docker.DockerClient, ResponseRecorder],
                    busybox: str, tmp_path: Path) -> None:
    client, recorded = recorder
    api = client.api
    labels = {LABEL: "1"}
    assert client.containers.run(busybox, ["echo", "hi"], remove=True, labels=labels) == b"hi\n"

    name = f"conf-{uuid.uuid4().hex[:8]}"
    container = client.containers.create(
        busybox, ["sh", "-c", "mkdir /made; echo x > /made/f; echo ready; exec sleep 60"],
        name=name, labels=labels, tty=True, ports={"8080/tcp": ("127.0.0.1", None)},
        environment={"A": "1"}, volumes={f"{name}-data": {"bind": "/data", "mode": "rw"}})
    container.start()
    wait_for_output(container, b"ready")
    assert client.containers.get(name).id == container.id
    assert [c.id for c in client.containers.list(filters={"label": LABEL})] == [container.id]
    assert api.containers(all=True, size=True, filters={"label": LABEL})
    assert api.inspect_container(container.id)["State"]["Running"] is True
    assert api.port(container.id, 8080)
    assert container.top()["Titles"] and container.top(ps_args="aux")["Processes"]
    assert {"Path": "/made", "Kind": 1} in container.diff()
    assert container.stats(stream=False)["id"] == container.id
    stream = api.stats(container.id, decode=True)
    assert next(stream)["id"] == container.id
    # The spec gives the stats message by example only: check against its shape too.
    maps = frozenset({"$.networks", "$.memory_stats.stats"})
    assert validate_example_shape(next(stream), response_example(STATS), maps=maps,
                                  optional=STATS_OMITEMPTY) == []
    stream.close()

    rich = client.containers.run(
        busybox, ["sleep", "60"], detach=True, labels=labels, hostname="rich",
        working_dir="/tmp", user="1000", mem_limit="64m", pids_limit=100, shm_size="8m",
        healthcheck={"test": ["CMD", "true"], "interval": 300_000_000, "retries": 1},
        volumes={str(tmp_path): {"bind": "/host", "mode": "ro"}},
        tmpfs={"/run/t": "size=1m"}, dns=["10.0.0.1"], extra_hosts={"h": "10.0.0.2"},
        ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048)],
        cap_add=["NET_ADMIN"], restart_policy={"Name": "unless-stopped"},
        log_config=docker.types.LogConfig(type="json-file", config={"max-size": "1m"}))
    deadline = time.monotonic() + 30
    while (health := api.inspect_container(rich.id)["State"]["Health"])["Status"] != "healthy":
        assert time.monotonic() < deadline, health
        time.sleep(0.2)
    assert len(api.containers(size=True, filters={"label": LABEL})) == 2
    assert client.df()["Containers"]
    rich.remove(force=True)

    assert container.put_archive("/made", tar_with("put.txt", b"put\n"))
    chunks, stat = container.get_archive("/made/put.txt")
    assert stat["name"] == "put.txt" and b"put\n" in b"".join(chunks)
    assert b"made/f" in b"".join(container.export())

    container.resize(30, 100)
    container.update(cpu_shares=512, restart_policy={"Name": "on-failure",
                                                      "MaximumRetryCount": 2})
    container.rename(f"{name}-renamed")
    other = client.containers.create(busybox, ["true"], name=f"{name}-other", labels=labels)
    with pytest.raises(docker.errors.APIError):
        other.rename(f"{name}-renamed")  # taken: 409
    container.pause()
    assert api.inspect_container(container.id)["State"]["Status"] == "paused"
    assert api.containers(filters={"status": "paused"})[0]["State"] == "paused"
    container.unpause()

    execution = api.exec_create(container.id, ["sh", "-c", "echo from-exec"])
    assert api.exec_inspect(execution["Id"])["Running"] is False
    assert api.exec_start(execution["Id"]) == b"from-exec\n"
    assert api.exec_inspect(execution["Id"])["ExitCode"] == 0
    resizable = api.exec_create(container.id, ["sleep", "5"], tty=True)
    api.exec_start(resizable["Id"], detach=True)
    api.exec_resize(resizable["Id"], height=20, width=80)
    assert container.exec_run(["true"]).exit_code == 0

    container.restart(timeout=1)
    container.start()  # already running: 304
    container.stop(timeout=1)
    container.stop(timeout=1)  # already stopped: 304
    container.start()
    container.kill(signal="SIGKILL")
    assert container.wait(timeout=30)["StatusCode"] == 137
    with pytest.raises(docker.errors.APIError):
        api.exec_create(container.id, ["true"])  # not running: 409
    # docker-py takes the raw socket after the 101 headers, so what its buffered
    # reader already holds may be lost: assert the type only, not the output.
    assert isinstance(container.attach(stdout=True, stderr=True, logs=True, stream=False), bytes)
    committed = container.commit(repository=f"conf-{name}", tag="v1", changes=["ENV B=2"],
                                 message="conformance", author="tests")
    assert "B=2" in committed.attrs["Config"]["Env"]
    committed.reload()
    client.images.remove(committed.id)
    container.remove(v=True)

    stopped = client.containers.run(busybox, ["true"], detach=True, labels=labels)
    assert stopped.wait(timeout=30)["StatusCode"] == 0
    pruned = client.containers.prune(filters={"label": LABEL})
    assert stopped.id in pruned["ContainersDeleted"]

    with pytest.raises(docker.errors.NotFound):
        client.containers.get("no-such-container")
    with pytest.raises(docker.errors.NotFound):
        api.exec_inspect("no-such-exec")
    with pytest.raises(docker.errors.APIError):
        client.containers.create("no-such-image:latest", ["true"], labels=labels)

    assert_conforms(recorded, {
        "POST /containers/create -> 201", "POST /containers/{id}/start -> 204",
        "GET /containers/json -> 200", "GET /containers/{id}/json -> 200",
        "GET /containers/{id}/top -> 200", "GET /containers/{id}/changes -> 200",
        "GET /containers/{id}/stats -> 200", "PUT /containers/{id}/archive -> 200",
        "GET /containers/{id}/archive -> 200", "GET /containers/{id}/export -> 200",
        "POST /containers/{id}/resize -> 200", "POST /containers/{id}/update -> 200",
        "POST /containers/{id}/rename -> 204", "POST /containers/{id}/pause -> 204",
        "POST /containers/{id}/unpause -> 204", "POST /containers/{id}/exec -> 201",
        "POST /containers/{id}/exec -> 409",
        "POST /containers/{id}/start -> 304", "POST /containers/{id}/stop -> 204",
        "POST /containers/{id}/stop -> 304",
        "GET /exec/{id}/json -> 200", "POST /exec/{id}/start -> 200",
        "POST /exec/{id}/resize -> 200", "POST /containers/{id}/restart -> 204",
        "POST /containers/{id}/kill -> 204", "POST /containers/{id}/wait -> 200",
        "POST /containers/{id}/attach -> 101", "POST /commit -> 201",
        "DELETE /containers/{id} -> 204", "POST /containers/prune -> 200",
        "GET /containers/{id}/logs -> 200", "GET /containers/{id}/json -> 404",
        "GET /exec/{id}/json -> 404", "POST /containers/{id}/rename -> 409",
        "POST /containers/create -> 404",
    })


def test_images(recorder: tuple[docker.DockerClient, ResponseRecorder], busybox: str,
                registry: Registry) -> None:
    client, recorded = recorder
    api = client.api
    image = client.images.get(busybox)
    assert image.id in [i.id for i in client.images.list()]
    assert api.images(all=True) and api.images(quiet=True)
    assert api.inspect_image(image.id)["Id"] == image.id
    assert image.history()
    repository = f"conf-{uuid.uuid4().hex[:8]}"
    assert image.tag(repository, "v1")
    saved = b"".join(client.images.get(f"{repository}:v1").save(named=f"{repository}:v1"))
    assert b"".join(api.get_image(image.id))
    client.images.remove(f"{repository}:v1")
    loaded = client.images.load(saved)
    assert [i.id for i in loaded] == [image.id]
    client.images.remove(f"{repository}:v1")

    exported = b"".join(client.containers.create(busybox, ["true"], labels={LABEL: "1"}).export())
    assert "sha256:" in api.import_image_from_data(exported)  # a dangling image
    assert client.images.prune(filters={"dangling": True})["ImagesDeleted"]

    remote = registry.name(repository)
    image.tag(remote, "v1")
    assert "digest" in client.images.push(remote, tag="v1")
    client.images.remove(f"{remote}:v1")
    pulled = client.images.pull(remote, tag="v1")
    assert pulled.id == image.id
    assert client.images.get_registry_data(f"{remote}:v1").id.startswith("sha256:")
    assert client.login("conformance", "secret", registry=registry.host)["Status"] == \
        "Login Succeeded"
    assert api.inspect_distribution(f"{remote}:v1")["Descriptor"]["digest"]
    client.images.remove(f"{remote}:v1")

    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("no-such-image:latest")
    with pytest.raises(docker.errors.NotFound):
        api.tag("no-such-image:latest", "other")
    with pytest.raises(docker.errors.APIError):
        client.images.remove(image.id)  # in use by the exported container

    assert_conforms(recorded, {
        "GET /images/json -> 200", "GET /images/{name}/json -> 200",
        "GET /images/{name}/history -> 200", "POST /images/{name}/tag -> 201",
        "GET /images/{name}/get -> 200",
        "POST /images/load -> 200", "DELETE /images/{name} -> 200",
        "POST /images/create -> 200", "POST /images/prune -> 200",
        "POST /images/{name}/push -> 200", "GET /distribution/{name}/json -> 200",
        "POST /auth -> 200",
        "GET /images/{name}/json -> 404", "POST /images/{name}/tag -> 404",
        "DELETE /images/{name} -> 409",
    })


def test_networks(recorder: tuple[docker.DockerClient, ResponseRecorder],
                  busybox: str) -> None:
    client, recorded = recorder
    name = f"conf-{uuid.uuid4().hex[:8]}"
    network = client.networks.create(name, driver="bridge", labels={LABEL: "1"})
    assert client.networks.get(network.id).name == name
    assert name in [n.name for n in client.networks.list(filters={"label": LABEL})]
    assert client.api.networks(names=[name])
    for builtin in ("bridge", "host", "none"):
        assert client.networks.get(builtin).name == builtin
    container = client.containers.run(busybox, ["sleep", "60"], detach=True,
                                      labels={LABEL: "1"})
    network.connect(container, aliases=["conf-alias"])
    network.reload()
    assert container.id in network.attrs["Containers"]
    container.reload()
    assert name in container.attrs["NetworkSettings"]["Networks"]
    network.disconnect(container, force=True)
    container.remove(force=True)
    network.remove()
    client.networks.create(f"{name}-pruned", labels={LABEL: "1"})
    assert client.networks.prune(filters={"label": LABEL})["NetworksDeleted"] == [f"{name}-pruned"]

    with pytest.raises(docker.errors.NotFound):
        client.networks.get("no-such-network")
    with pytest.raises(docker.errors.APIError):
        client.networks.create("bridge", check_duplicate=True)

    assert_conforms(recorded, {
        "POST /networks/create -> 201", "GET /networks/{id} -> 200", "GET /networks -> 200",
        "POST /networks/{id}/connect -> 200", "POST /networks/{id}/disconnect -> 200",
        "DELETE /networks/{id} -> 204", "POST /networks/prune -> 200",
        "GET /networks/{id} -> 404",
    })


def test_volumes_and_system(recorder: tuple[docker.DockerClient, ResponseRecorder]) -> None:
    client, recorded = recorder
    since = time.time() - 1
    name = f"conf-{uuid.uuid4().hex[:8]}"
    volume = client.volumes.create(name, labels={LABEL: "1"})
    assert client.volumes.get(name).id == volume.id
    volume.reload()
    assert name in [v.name for v in client.volumes.list(filters={"label": LABEL})]
    assert client.api.volumes()["Volumes"]
    volume.remove()
    client.volumes.create(f"{name}-pruned", labels={LABEL: "1"})
    pruned = client.volumes.prune(filters={"label": LABEL, "all": True})  # named ones too
    assert pruned["VolumesDeleted"] == [f"{name}-pruned"]
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("no-such-volume")

    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.47"
    assert client.info()["Driver"]
    usage = client.df()
    assert isinstance(usage["Volumes"], list)
    assert client.api.df()["LayersSize"] >= 0
    assert client.api.prune_builds()["SpaceReclaimed"] == 0
    events = list(client.events(since=since, until=time.time() + 0.5, decode=True))
    assert {"create", "destroy"} <= {e["Action"] for e in events if e["Type"] == "volume"}
    # A 400 (checked below as an ErrorResponse); docker-py's CancellableStream takes
    # its APIError (an OSError) for the end of the stream.
    assert list(client.events(since="not-a-time", until=time.time(), decode=True)) == []

    assert_conforms(recorded, {
        "POST /volumes/create -> 201", "GET /volumes/{name} -> 200", "GET /volumes -> 200",
        "DELETE /volumes/{name} -> 204", "POST /volumes/prune -> 200",
        "GET /volumes/{name} -> 404", "GET /_ping -> 200", "GET /version -> 200",
        "GET /info -> 200", "GET /system/df -> 200", "GET /events -> 200",
        "GET /events -> 400", "POST /build/prune -> 200",
    })


def test_cli_commands(cluster: Cluster, busybox: str, tmp_path: Path) -> None:
    """The stock docker CLI through a recording proxy: what it gets is what the spec says."""
    with RecordingProxy(cluster.socket, tmp_path / "proxy.sock") as proxy:
        via = dataclasses.replace(cluster, host=proxy.docker_host)

        def ok(*args: str) -> str:
            result = via.docker(*args)
            assert result.returncode == 0, (args, result.stderr)
            return result.stdout

        name = f"conf-cli-{uuid.uuid4().hex[:8]}"
        volume, network, image = f"{name}-v", f"{name}-n", f"{name}-img"
        since = str(int(time.time()) - 1)
        ok("run", "-d", "--name", name, "--label", LABEL, "-p", "127.0.0.1::80",
           "-v", f"{volume}:/data", "--health-cmd", "true", "--health-interval", "300ms",
           busybox, "sh", "-c", "echo hi; exec sleep 60")
        ok("ps"), ok("ps", "-a", "--size", "--filter", f"label={LABEL}")
        ok("inspect", name), ok("container", "inspect", "--size", name)
        ok("top", name), ok("port", name), ok("diff", name)
        ok("stats", "--no-stream", name), ok("logs", "-t", name)
        ok("exec", name, "echo", "from-exec")
        (tmp_path / "in.txt").write_text("in\n")
        ok("cp", str(tmp_path / "in.txt"), f"{name}:/tmp/in.txt")
        ok("cp", f"{name}:/tmp/in.txt", str(tmp_path / "out.txt"))
        ok("export", "-o", str(tmp_path / "rootfs.tar"), name)
        ok("pause", name), ok("ps", "--filter", "status=paused"), ok("unpause", name)
        ok("update", "--cpu-shares", "512", name)
        ok("rename", name, f"{name}-r"), ok("rename", f"{name}-r", name)
        ok("restart", "-t", "1", name), ok("stop", "-t", "1", name)
        ok("commit", "-c", "ENV C=1", name, image)
        ok("history", image), ok("image", "inspect", image), ok("images")
        ok("tag", image, f"{image}:other")
        ok("save", "-o", str(tmp_path / "image.tar"), f"{image}:other")
        ok("rmi", f"{image}:other"), ok("load", "-i", str(tmp_path / "image.tar"))
        ok("rmi", f"{image}:other", image), ok("image", "prune", "-f")
        ok("network", "create", "--label", LABEL, network), ok("network", "ls")
        ok("network", "connect", network, name), ok("network", "inspect", network)
        ok("network", "disconnect", network, name), ok("network", "rm", network)
        ok("network", "prune", "-f")
        ok("volume", "ls"), ok("volume", "inspect", volume)
        ok("system", "df", "-v"), ok("info"), ok("version")
        ok("rm", "-f", "-v", name), ok("volume", "rm", volume)
        ok("volume", "create", "--label", LABEL, volume), ok("volume", "prune", "-af")
        ok("container", "prune", "-f")
        ok("events", "--since", since, "--until", str(int(time.time()) + 1))
        assert via.docker("inspect", "no-such-object").returncode == 1
        assert via.docker("rm", "no-such-container").returncode == 1

    problems = proxy.problems()
    assert not problems, (f"{len(problems)} answers the CLI got differ from the spec:\n"
                          + "\n".join(f"  {p}" for p in problems))
    missing = {
        "GET /containers/{id}/json -> 200", "GET /containers/json -> 200",
        "GET /containers/{id}/stats -> 200", "GET /system/df -> 200", "GET /events -> 200",
        "POST /commit -> 201", "GET /networks/{id} -> 200", "GET /volumes/{name} -> 200",
        "DELETE /containers/{id} -> 404", "HEAD /containers/{id}/archive -> 404",
        "PUT /containers/{id}/archive -> 200",
    } - proxy.operations()
    assert not missing, f"operations never exercised: {sorted(missing)}"

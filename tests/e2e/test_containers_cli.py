"""Container records through the stock docker CLI: create, ps, inspect, rename, bad input."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster
from tests.support.containers import remove_created_containers

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def busybox(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``busybox:latest`` in the cluster (imported from Debian's busybox-static)."""
    if cluster.docker("image", "inspect", "busybox:latest").returncode != 0:
        tar = cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))
        imported = cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest")
        assert imported.returncode == 0, imported.stderr
    return "busybox"


@pytest.fixture
def made(cluster: Cluster) -> Iterator[list[str]]:
    """IDs of containers a test created; removed afterwards."""
    ids: list[str] = []
    yield ids
    remove_created_containers(cluster, ids)


def unique(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def create(cluster: Cluster, made: list[str], *args: str) -> str:
    container_id = ok(cluster.docker("create", *args)).strip()
    assert len(container_id) == 64
    made.append(container_id)
    return container_id


def inspect(cluster: Cluster, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(ok(cluster.docker("inspect", name)))
    return data[0]


def snapshot_dirs(cluster: Cluster) -> set[str]:
    root = cluster.data_root / "overlay"
    return {p.name for p in root.iterdir() if len(p.name) == 64 and (p / "merged").exists()} \
        if root.exists() else set()


def test_create_then_ps_and_inspect(cluster: Cluster, busybox: str, made: list[str]) -> None:
    name = unique("hello")
    container_id = create(cluster, made, "--name", name, "--label", "team=core",
                          "-e", "GREETING=hi", busybox, "echo", "hi")
    rows = ok(cluster.docker("ps", "-a", "--no-trunc", "--filter", f"name={name}"))
    header, row = rows.splitlines()
    assert header.split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                              "PORTS", "NAMES"]
    assert row.startswith(container_id)
    assert '"echo hi"' in row and " Created " in row and row.endswith(name)
    assert "busybox" in row
    short = ok(cluster.docker("ps", "-a", "--filter", f"name={name}"))
    assert short.splitlines()[1].startswith(container_id[:12] + "   busybox   \"echo hi\"")
    # Not running: plain `docker ps` does not list it.
    assert container_id[:12] not in ok(cluster.docker("ps"))

    body = inspect(cluster, name)
    assert body["Id"] == container_id and body["Name"] == f"/{name}"
    assert body["Path"] == "echo" and body["Args"] == ["hi"]
    assert body["State"]["Status"] == "created" and body["State"]["Running"] is False
    assert body["State"]["StartedAt"] == "0001-01-01T00:00:00Z"
    assert body["Config"]["Image"] == "busybox"
    assert body["Config"]["Cmd"] == ["echo", "hi"]
    assert body["Config"]["Labels"] == {"team": "core"}
    assert "GREETING=hi" in body["Config"]["Env"]
    assert body["Config"]["Hostname"] == container_id[:12]
    assert body["HostConfig"]["NetworkMode"] == "bridge"
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert body["Image"].startswith("sha256:") and body["Driver"] == "overlay2"
    merged = Path(body["GraphDriver"]["Data"]["MergedDir"])
    assert merged.is_mount() and (merged / "bin" / "busybox").exists()
    assert container_id in snapshot_dirs(cluster)
    fmt = ok(cluster.docker("inspect", "-f", "{{.State.Status}} {{.Name}}", container_id[:12]))
    assert fmt.strip() == f"created /{name}"


def test_taken_name_is_refused_with_dockers_message(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    name = unique("taken")
    first = create(cluster, made, "--name", name, busybox)
    before = snapshot_dirs(cluster)
    again = cluster.docker("create", "--name", name, busybox)
    # The stock CLI's `create` exits 1 on a daemon error (`run` exits 125).
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f'Error response from daemon: Conflict. The container name "/{name}" is already in use '
        f'by container "{first}". You have to remove (or rename) that container to be able to '
        "reuse that name."
    )
    assert snapshot_dirs(cluster) == before


def test_rename(cluster: Cluster, busybox: str, made: list[str]) -> None:
    old, new = unique("old"), unique("new")
    container_id = create(cluster, made, "--name", old, busybox)
    ok(cluster.docker("rename", old, new))
    assert inspect(cluster, new)["Id"] == container_id
    missing = cluster.docker("inspect", old)
    assert missing.returncode == 1
    assert f"No such object: {old}" in missing.stderr or f"No such container: {old}" in (
        missing.stderr)
    # The old name is free again.
    create(cluster, made, "--name", old, busybox)


def test_ps_filters_quiet_limit_and_format(
    cluster: Cluster, busybox: str, made: list[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    a = create(cluster, made, "--name", f"fa-{tag}", "--label", f"set={tag}", busybox)
    b = create(cluster, made, "--name", f"fb-{tag}", "--label", f"set={tag}",
               "--label", "role=db", busybox, "true")

    def ids(*args: str) -> list[str]:
        return ok(cluster.docker("ps", "-a", "-q", "--no-trunc", *args)).split()

    assert ids("--filter", f"label=set={tag}") == [b, a]  # newest first
    assert ids("--filter", f"label=set={tag}", "--filter", "label=role=db") == [b]
    assert ids("--filter", f"name=fa-{tag}") == [a]
    assert ids("--filter", f"name=^/f[ab]-{tag}$") == [b, a]
    assert set(ids("--filter", "status=created", "--filter", f"label=set={tag}")) == {a, b}
    assert ids("--filter", "status=running", "--filter", f"label=set={tag}") == []
    assert ids("--filter", "ancestor=busybox", "--filter", f"label=set={tag}") == [b, a]
    assert ids("--filter", f"id={a[:12]}") == [a]
    assert ids("--filter", f"before=fb-{tag}", "--filter", f"label=set={tag}") == [a]
    assert ids("--filter", f"since=fa-{tag}", "--filter", f"label=set={tag}") == [b]
    newest = ok(cluster.docker("ps", "-a", "-q", "-n", "1")).split()
    assert newest == [b[:12]]
    assert ok(cluster.docker("ps", "-a", "-l", "-q")).split() == [b[:12]]
    names = ok(cluster.docker("ps", "-a", "--filter", f"label=set={tag}",
                              "--format", "{{.Names}}")).split()
    assert names == [f"fb-{tag}", f"fa-{tag}"]
    line = ok(cluster.docker("ps", "-a", "--filter", f"id={b}", "--format",
                             "{{.Command}}|{{.Status}}|{{.State}}|{{.Label \"role\"}}")).strip()
    assert line == '"true"|Created|created|db'
    bad = cluster.docker("ps", "--filter", "colour=red")
    assert bad.returncode == 1
    assert "invalid filter 'colour'" in bad.stderr


# (flags, message, exit code): the CLI exits 1 when the daemon refuses a create,
# 125 when it refuses the flags itself.
@pytest.mark.parametrize(("args", "message", "code"), [
    (("--name", "bad name"), "Error response from daemon: Invalid container name (bad name), "
                             "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", 1),
    (("-m", "4m"), "Error response from daemon: Minimum memory limit allowed is 6MB", 1),
    (("--mount", "type=bind,source=/no/such/dir/dockyard,target=/x"),
     'Error response from daemon: invalid mount config for type "bind": bind source path does '
     "not exist: /no/such/dir/dockyard", 1),
    # A 404 on create makes the CLI pull the image first (as with dockerd): not offline.
    (("--pull", "never", "--network", "no-such-net-dockyard"),
     "Error response from daemon: network no-such-net-dockyard not found", 1),
    (("-w", "relative"), "Error response from daemon: the working directory 'relative' is "
                         "invalid, it needs to be an absolute path", 1),
    (("--cpus", "999"), "Error response from daemon: Range of CPUs is from 0.01 to", 1),
    (("--restart", "sometimes"), "Error response from daemon: invalid restart policy "
                                 "'sometimes'", 1),
    (("--stop-signal", "SIGNOPE"), "Error response from daemon: Invalid signal: SIGNOPE", 1),
])
def test_bad_input_gets_dockers_message_and_leaves_nothing(
    cluster: Cluster, busybox: str, args: tuple[str, ...], message: str, code: int
) -> None:
    before_ids = ok(cluster.docker("ps", "-aq", "--no-trunc")).split()
    before_snapshots = snapshot_dirs(cluster)
    result = cluster.docker("create", *args, busybox, "true")
    assert result.returncode == code, result.stdout
    assert message in result.stderr
    assert ok(cluster.docker("ps", "-aq", "--no-trunc")).split() == before_ids
    assert snapshot_dirs(cluster) == before_snapshots


def test_negative_memory_through_the_api(cluster: Cluster, busybox: str) -> None:
    client = cluster.client()
    try:
        import docker.errors

        before = len(client.containers.list(all=True))
        for host_config, message in (
            ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
            ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}},
             "can't create 'AutoRemove' container with restart policy"),
        ):
            with pytest.raises(docker.errors.APIError) as caught:
                client.api.create_container(busybox, "true", host_config={
                    "NetworkMode": "default", **host_config})
            assert caught.value.status_code == 400
            assert caught.value.explanation == message
        assert len(client.containers.list(all=True)) == before
    finally:
        client.close()


def test_missing_image_is_404_so_the_cli_tries_to_pull(cluster: Cluster) -> None:
    result = cluster.docker("create", "--pull", "never", "dockyard-no-such-image:1")
    assert result.returncode == 1
    assert "No such image: dockyard-no-such-image:1" in result.stderr


def test_inspect_of_an_unknown_name_is_not_found(cluster: Cluster) -> None:
    result = cluster.docker("inspect", "--type", "container", "dockyard-nothing-here")
    assert result.returncode == 1
    assert "No such container: dockyard-nothing-here" in result.stderr

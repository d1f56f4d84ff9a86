"""Hostile and bad input to ``docker run``: clear errors, and nothing half-made.

Docker creates a missing host path given with ``-v`` but refuses one given
with ``--mount``; a working directory that reaches through ``/proc`` (the
runc CVE-2024-21626 trick) never becomes a process's cwd; bad names and
negative sizes are refused before anything exists.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cli_containers import (
    Names,
    all_container_ids,
    ok,
)
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


def snapshots(cluster: Cluster) -> set[str]:
    root = cluster.data_root / "overlay"
    return {p.name for p in root.iterdir() if len(p.name) == 64} if root.exists() else set()


def test_v_of_a_missing_host_path_creates_it(
    cluster: Cluster, busybox: str, tmp_path: Path
) -> None:
    missing = tmp_path / "not" / "yet"
    out = ok(cluster.docker("run", "--rm", "-v", f"{missing}:/data", busybox,
                            "sh", "-c", "echo made > /data/f; ls /data"))
    assert out == "f\n"
    assert missing.is_dir() and (missing / "f").read_text() == "made\n"


def test_mount_bind_of_a_missing_path_is_refused(
    cluster: Cluster, busybox: str, tmp_path: Path
) -> None:
    missing = tmp_path / "absent"
    before, made = all_container_ids(cluster), snapshots(cluster)
    result = cluster.docker("run", "--rm", "--mount", f"type=bind,src={missing},dst=/x",
                            busybox, "true")
    assert result.returncode == 125
    assert result.stderr.startswith(
        'docker: Error response from daemon: invalid mount config for type "bind": '
        f"bind source path does not exist: {missing}\n")
    assert not missing.exists()
    assert all_container_ids(cluster) == before and snapshots(cluster) == made


@pytest.mark.parametrize("workdir", ["/proc/self/fd/7", "/proc/self/cwd", "/dev/../proc/1/cwd"])
def test_workdir_through_proc_is_refused_before_anything_exists(
    cluster: Cluster, busybox: str, workdir: str
) -> None:
    before, made = all_container_ids(cluster), snapshots(cluster)
    result = cluster.docker("run", "--rm", "-w", workdir, busybox, "pwd")
    assert result.returncode == 125 and result.stdout == ""
    assert f"the working directory '{workdir}' is invalid" in result.stderr
    assert all_container_ids(cluster) == before and snapshots(cluster) == made


def test_image_workdir_through_proc_or_a_symlink_never_runs(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    rootfs = tmp_path / "evil.tar"
    rootfs.write_bytes(cached_busybox_rootfs_tar(tmp_path_factory.mktemp("bb")).read_bytes())
    with tarfile.open(rootfs, "a") as archive:
        link = tarfile.TarInfo("evil")
        link.type, link.linkname = tarfile.SYMTYPE, "/proc/self/fd/7"
        archive.addfile(link)
    image = f"dy-hostile-{names.new('img')}"
    for workdir in ("/proc/self/fd/8", "/evil"):
        ok(cluster.docker("import", "--change", f"WORKDIR {workdir}", "--change",
                          'CMD ["pwd"]', str(rootfs), image))
        name = names.new("evilwd")
        result = cluster.docker("run", "--name", name, image)
        assert result.returncode == 125 and result.stdout == "", workdir
        assert result.stderr.startswith("docker: Error response from daemon: ")
        body = ok(cluster.docker("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", name))
        assert body == "created 0\n"
    cluster.docker("rm", "-f", *names.containers)
    cluster.docker("rmi", image)


@pytest.mark.parametrize("name", ["bad name", "bad/name", "-dash", "x", "a:b", "ü-name"])
def test_bad_names_are_refused(cluster: Cluster, busybox: str, name: str) -> None:
    before, made = all_container_ids(cluster), snapshots(cluster)
    result = cluster.docker("run", "--name", name, busybox, "true")
    assert result.returncode == 125
    assert (f"Error response from daemon: Invalid container name ({name}), only "
            "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed") in result.stderr
    assert all_container_ids(cluster) == before and snapshots(cluster) == made


@pytest.mark.parametrize("flag", ["-m", "--memory-swap", "--shm-size"])
def test_negative_sizes_are_refused(cluster: Cluster, busybox: str, flag: str) -> None:
    before = all_container_ids(cluster)
    result = cluster.docker("run", flag, "-5m", busybox, "true")
    assert result.returncode == 125
    assert "invalid size: '-5m'" in result.stderr or "invalid argument" in result.stderr
    assert all_container_ids(cluster) == before


def test_negative_memory_through_the_api_is_a_400(cluster: Cluster, busybox: str) -> None:
    import docker.errors

    client = cluster.client()
    before = all_container_ids(cluster)
    try:
        for host_config, message in (
            ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
            ({"ShmSize": -1}, "SHM size can not be less than 0"),
        ):
            with pytest.raises(docker.errors.APIError) as caught:
                client.api.create_container(busybox, "true", host_config=host_config)
            assert caught.value.status_code == 400
            assert caught.value.explanation == message
    finally:
        client.close()
    assert all_container_ids(cluster) == before

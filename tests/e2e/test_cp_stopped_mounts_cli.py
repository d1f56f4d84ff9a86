"""``docker cp`` of a stopped container sees its volumes and binds, as dockerd's does."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tests.support.cli_containers import Names, docker_bytes, ok
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


def _tar_file(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def _views_left(cluster: Cluster) -> list[Path]:
    views = cluster.data_root / "copy-views"
    return list(views.iterdir()) if views.exists() else []


def test_cp_both_ways_through_a_stopped_containers_volume_and_bind(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    volume = names.volume("stoppedvol")
    bind = tmp_path / "bound"
    bind.mkdir()
    (bind / "from-host").write_text("host side\n")
    name = names.new("stoppedmounts")
    ok(cluster.docker("run", "--name", name, "-v", f"{volume}:/data", "-v", f"{bind}:/srv",
                      busybox, "sh", "-c", "echo written-in-run > /data/inside"))

    # Out of the volume and the bind while the container is stopped.
    out = docker_bytes(cluster, "cp", f"{name}:/data/inside", "-")
    assert out.returncode == 0, out.stderr
    assert _tar_file(out.stdout, "inside") == b"written-in-run\n"
    ok(cluster.docker("cp", f"{name}:/srv/from-host", str(tmp_path / "copied")))
    assert (tmp_path / "copied").read_text() == "host side\n"

    # Into them: the files land in the volume and on the host, not in the snapshot.
    source = tmp_path / "late.txt"
    source.write_text("late\n")
    ok(cluster.docker("cp", str(source), f"{name}:/data/"))
    ok(cluster.docker("cp", str(source), f"{name}:/srv/"))
    assert (bind / "late.txt").read_text() == "late\n"
    reader = names.new("volreader")
    assert ok(cluster.docker("run", "--name", reader, "-v", f"{volume}:/v", busybox,
                             "cat", "/v/late.txt")) == "late\n"
    assert "/data/late.txt" not in ok(cluster.docker("diff", name))
    assert _views_left(cluster) == []


def test_cp_into_a_stopped_containers_read_only_bind_is_refused(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    bind = tmp_path / "ro"
    bind.mkdir()
    name = names.new("stoppedro")
    ok(cluster.docker("create", "--name", name, "-v", f"{bind}:/ro:ro", busybox, "true"))
    source = tmp_path / "f"
    source.write_text("f\n")
    refused = cluster.docker("cp", str(source), f"{name}:/ro/")
    assert refused.returncode == 1 and "read-only" in refused.stderr, refused.stderr
    assert list(bind.iterdir()) == []
    assert _views_left(cluster) == []


def test_cp_into_a_stopped_read_only_container_reaches_its_volume(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    volume = names.volume("rostopped")
    ok(cluster.docker("volume", "create", volume))
    name = names.new("rostopped")
    ok(cluster.docker("create", "--read-only", "--name", name, "-v", f"{volume}:/data",
                      busybox, "true"))
    source = tmp_path / "g"
    source.write_text("g\n")
    ok(cluster.docker("cp", str(source), f"{name}:/data/"))
    refused = cluster.docker("cp", str(source), f"{name}:/tmp/")
    assert refused.returncode == 1 and "read-only" in refused.stderr
    out = docker_bytes(cluster, "cp", f"{name}:/data/g", "-")
    assert _tar_file(out.stdout, "g") == b"g\n"

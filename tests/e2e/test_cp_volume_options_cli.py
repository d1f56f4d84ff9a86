"""``docker cp`` and volumes made with driver options, and the volume events of a copy.

As seen on dockerd 20.10: a copy mounts the container's volumes for its time,
so a stopped container's volume that binds a device directory shows (and
takes) that directory's files, and a tmpfs volume is an empty, fresh tmpfs
each time (what is copied into it is gone with the copy). Every archive
request (the CLI's stat, then the read or write) reports a volume ``mount``
per volume before, and an ``unmount`` each after, running container or not.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.support.cli_containers import (
    Names,
    docker_bytes,
    ok,
    poll,
)
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


def copy_events(cluster: Cluster, since: float, container_id: str) -> list[tuple[str, str]]:
    """(action, volume name or "") of the volume and copy events about the container."""
    until = time.time() + 0.3  # the last emits may still be on their way to etcd
    out = ok(cluster.docker("events", "--since", f"{since:.9f}", "--until", f"{until:.9f}",
                            "--format", "{{json .}}"))
    seen = []
    for line in out.splitlines():
        event: dict[str, Any] = json.loads(line)
        if event["Type"] == "volume" and event["Actor"]["Attributes"].get(
                "container") == container_id:
            seen.append((event["Action"], event["Actor"]["ID"]))
        elif event["Type"] == "container" and event["Actor"]["ID"] == container_id and (
                event["Action"] in ("archive-path", "extract-to-dir")):
            seen.append((event["Action"], ""))
    return seen


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return sorted(tar.getnames())


def tar_file(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def copied_out(cluster: Cluster, source: str) -> bytes:
    out = docker_bytes(cluster, "cp", source, "-")
    assert out.returncode == 0, out.stderr
    return out.stdout


def volume_mounted(cluster: Cluster, volume: str) -> bool:
    data = str(cluster.data_root / "volumes" / volume / "_data")
    return any(line.split()[4] == data
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


def bind_volume(cluster: Cluster, name: str, device: Path) -> None:
    ok(cluster.docker("volume", "create", "-o", "type=none", "-o", "o=bind",
                      "-o", f"device={device}", name))


def test_cp_of_a_stopped_container_reads_and_writes_its_bind_device_volume(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    device = tmp_path / "device"
    device.mkdir()
    (device / "on-device").write_text("device side\n")
    name, volume = names.new("cpdev"), names.volume("cpdev")
    bind_volume(cluster, volume, device)
    cid = ok(cluster.docker("create", "--name", name, "-v", f"{volume}:/data", busybox,
                            "true")).strip()
    since = time.time()
    assert tar_file(copied_out(cluster, f"{name}:/data/on-device"), "on-device") == (
        b"device side\n")
    source = tmp_path / "in.txt"
    source.write_text("copied in\n")
    ok(cluster.docker("cp", str(source), f"{name}:/data/"))
    assert (device / "in.txt").read_text() == "copied in\n"
    # The read, then the CLI's stat and the write: each within its own mount.
    assert copy_events(cluster, since, cid) == [
        ("mount", volume), ("archive-path", ""), ("unmount", volume),
        ("mount", volume), ("unmount", volume),
        ("mount", volume), ("extract-to-dir", ""), ("unmount", volume)]
    assert not volume_mounted(cluster, volume)
    assert "/data/in.txt" not in ok(cluster.docker("diff", name))


def test_a_stopped_containers_tmpfs_volume_is_empty_and_forgets_what_is_copied_in(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    name, volume = names.new("cptmpfs"), names.volume("cptmpfs")
    ok(cluster.docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", volume))
    ok(cluster.docker("create", "--name", name, "-v", f"{volume}:/t", busybox, "true"))
    source = tmp_path / "lost.txt"
    source.write_text("lost\n")
    ok(cluster.docker("cp", str(source), f"{name}:/t/"))
    assert tar_names(copied_out(cluster, f"{name}:/t")) == ["t"]
    assert not volume_mounted(cluster, volume)
    assert "/t/lost.txt" not in ok(cluster.docker("diff", name))


def test_cp_of_a_running_container_reports_the_mount_and_unmount_of_its_volume(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name, volume = names.new("cprun"), names.volume("cprun")
    cid = ok(cluster.docker("run", "-d", "--name", name, "-v", f"{volume}:/data", busybox,
                            "sh", "-c", "echo live > /data/f; sleep 60")).strip()
    poll(lambda: cluster.docker("exec", name, "test", "-f", "/data/f").returncode == 0 or None,
         what="the file written in the volume")
    since = time.time()
    assert tar_file(copied_out(cluster, f"{name}:/data/f"), "f") == b"live\n"
    assert copy_events(cluster, since, cid) == [
        ("mount", volume), ("archive-path", ""), ("unmount", volume)]
    # Only events: the container keeps its volume.
    assert ok(cluster.docker("exec", name, "cat", "/data/f")) == "live\n"


def test_a_device_gone_fails_the_copy_clearly_and_leaves_nothing_mounted(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    device = tmp_path / "vanishing"
    device.mkdir()
    name, volume = names.new("cpgone"), names.volume("cpgone")
    bind_volume(cluster, volume, device)
    ok(cluster.docker("create", "--name", name, "-v", f"{volume}:/data", busybox, "true"))
    device.rmdir()
    refused = cluster.docker("cp", f"{name}:/etc/passwd", str(tmp_path / "passwd"))
    assert refused.returncode == 1
    assert "failed to mount local volume" in refused.stderr, refused.stderr
    with pytest.raises(docker.errors.APIError) as error:
        cluster.client().api.get_archive(name, "/etc/passwd")
    assert 400 <= error.value.status_code < 500
    assert not volume_mounted(cluster, volume)
    device.mkdir()
    (device / "back").write_text("back\n")
    assert tar_file(copied_out(cluster, f"{name}:/data/back"), "back") == b"back\n"
    assert not volume_mounted(cluster, volume)


def test_a_symlink_on_the_device_resolves_inside_the_container(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    device = tmp_path / "linked"
    device.mkdir()
    (device / "escape").symlink_to("/")
    name, volume = names.new("cplink"), names.volume("cplink")
    bind_volume(cluster, volume, device)
    ok(cluster.docker("create", "--name", name, "-v", f"{volume}:/data", busybox, "true"))
    # The host has /etc/os-release; the container's root (busybox) has not.
    assert Path("/etc/os-release").exists()
    missing = docker_bytes(cluster, "cp", f"{name}:/data/escape/etc/os-release", "-")
    assert missing.returncode == 1
    assert b"Could not find the file" in missing.stderr
    through_link = tar_file(copied_out(cluster, f"{name}:/data/escape/etc/passwd"), "passwd")
    assert through_link == tar_file(copied_out(cluster, f"{name}:/etc/passwd"), "passwd")
    assert not volume_mounted(cluster, volume)

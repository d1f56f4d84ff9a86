"""docker cp (both ways, running and stopped, hostile symlinks), export, diff and commit."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tests.support.cli_containers import (
    Names,
    docker_bytes,
    ok,
)
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

SLEEPER = ("sh", "-c", "echo ready; while :; do sleep 0.05; done")


def _run(cluster: Cluster, names: Names, busybox: str, what: str, *command: str) -> str:
    name = names.new(what)
    ok(cluster.docker("run", "-d", "--name", name, busybox, *command))
    return name


def _tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def _tar_file(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_cp_file_and_directory_both_ways_on_a_running_container(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    name = _run(cluster, names, busybox, "cp", *SLEEPER)
    source = tmp_path / "hello.txt"
    source.write_text("hello from the host\n")
    ok(cluster.docker("cp", str(source), f"{name}:/tmp/hello.txt"))
    assert ok(cluster.docker("exec", name, "cat", "/tmp/hello.txt")) == "hello from the host\n"

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf").write_text("leaf\n")
    ok(cluster.docker("cp", str(tree), f"{name}:/tmp"))
    assert ok(cluster.docker("exec", name, "cat", "/tmp/tree/sub/leaf")) == "leaf\n"
    # A destination that does not exist yet becomes the copied directory itself.
    ok(cluster.docker("cp", str(tree), f"{name}:/opt"))
    assert ok(cluster.docker("exec", name, "cat", "/opt/sub/leaf")) == "leaf\n"

    ok(cluster.docker("exec", name, "sh", "-c",
                      "mkdir -p /data/d && echo inside > /data/d/f && echo top > /data/top"))
    out = tmp_path / "out"
    out.mkdir()
    ok(cluster.docker("cp", f"{name}:/data", str(out)))
    assert (out / "data" / "d" / "f").read_text() == "inside\n"
    assert (out / "data" / "top").read_text() == "top\n"
    ok(cluster.docker("cp", f"{name}:/data/top", str(out / "copied")))
    assert (out / "copied").read_text() == "top\n"
    # "dir/." copies the directory's contents into an existing destination.
    contents = tmp_path / "contents"
    contents.mkdir()
    ok(cluster.docker("cp", f"{name}:/data/.", str(contents)))
    assert sorted(p.name for p in contents.iterdir()) == ["d", "top"]


def test_cp_to_stdout_is_a_tar_with_the_stat_header(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = _run(cluster, names, busybox, "cpout", *SLEEPER)
    ok(cluster.docker("exec", name, "sh", "-c", "echo content > /etc/hostname"))
    result = docker_bytes(cluster, "cp", f"{name}:/etc/hostname", "-")
    assert result.returncode == 0, result.stderr
    assert _tar_names(result.stdout) == ["hostname"]
    assert _tar_file(result.stdout, "hostname") == b"content\n"

    missing = cluster.docker("cp", f"{name}:/no/such/file", "-")
    assert missing.returncode == 1
    assert "Could not find the file /no/such/file" in missing.stderr or \
        "No such container:path" in missing.stderr


def test_cp_into_and_out_of_a_stopped_container(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    name = names.new("stopped")
    ok(cluster.docker("run", "--name", name, busybox, "sh", "-c", "echo before > /before"))
    source = tmp_path / "late.txt"
    source.write_text("late\n")
    ok(cluster.docker("cp", str(source), f"{name}:/late.txt"))
    out = tmp_path / "back"
    ok(cluster.docker("cp", f"{name}:/late.txt", str(out)))
    assert out.read_text() == "late\n"
    ok(cluster.docker("cp", f"{name}:/before", str(tmp_path / "before")))
    assert (tmp_path / "before").read_text() == "before\n"


def test_cp_through_a_symlink_to_root_stays_in_the_container(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    name = _run(cluster, names, busybox, "hostile", "sh", "-c",
                "echo container-shadow > /etc/shadow; ln -s / /x; "
                "while :; do sleep 0.05; done")
    ok(cluster.docker("exec", name, "test", "-L", "/x"))
    result = docker_bytes(cluster, "cp", f"{name}:/x/etc/shadow", "-")
    assert result.returncode == 0, result.stderr
    assert _tar_file(result.stdout, "shadow") == b"container-shadow\n"

    evil = tmp_path / "evil"
    evil.write_text("evil\n")
    ok(cluster.docker("cp", str(evil), f"{name}:/x/tmp/evil"))
    assert ok(cluster.docker("exec", name, "cat", "/tmp/evil")) == "evil\n"
    assert not Path("/tmp/evil").exists() or Path("/tmp/evil").read_text() != "evil\n"

    # An absolute symlink named as the destination directory is followed inside the root.
    ok(cluster.docker("exec", name, "ln", "-s", "/etc", "/tmp/etclink"))
    ok(cluster.docker("cp", str(evil), f"{name}:/tmp/etclink/"))
    assert ok(cluster.docker("exec", name, "cat", "/etc/evil")) == "evil\n"
    assert not Path("/etc/evil").exists()


def test_export_lists_the_root_filesystem(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = _run(cluster, names, busybox, "export", *SLEEPER)
    ok(cluster.docker("exec", name, "sh", "-c", "echo x > /exported"))
    result = docker_bytes(cluster, "export", name)
    assert result.returncode == 0, result.stderr
    entries = _tar_names(result.stdout)
    assert {"bin/busybox", "exported"} <= set(entries) or \
        {"bin/sh", "exported"} <= set(entries)
    assert _tar_file(result.stdout, "exported") == b"x\n"


def test_diff_shows_added_changed_and_deleted(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = _run(cluster, names, busybox, "diff", *SLEEPER)
    # The runtime's own files (hostname, hosts, resolv.conf) are not changes.
    assert ok(cluster.docker("diff", name)) == ""
    ok(cluster.docker("exec", name, "sh", "-c",
                      "mkdir /newdir && touch /newdir/file && rm /bin/ls && "
                      "echo more >> /etc/passwd"))
    lines = ok(cluster.docker("diff", name)).splitlines()
    assert "A /newdir" in lines and "A /newdir/file" in lines
    assert "D /bin/ls" in lines
    assert "C /etc" in lines and "C /etc/passwd" in lines


def test_commit_with_a_change_then_run(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = _run(cluster, names, busybox, "commit", *SLEEPER)
    ok(cluster.docker("exec", name, "sh", "-c", "echo committed > /marker && rm /bin/ls"))
    repo = f"dockyard-commit-{name}"
    try:
        image_id = ok(cluster.docker("commit", "--change", 'CMD ["echo","hi"]',
                                     "-m", "a message", "-a", "someone", name, repo)).strip()
        assert image_id.startswith("sha256:")
        assert ok(cluster.docker("run", "--rm", repo)) == "hi\n"
        assert ok(cluster.docker("run", "--rm", repo, "cat", "/marker")) == "committed\n"
        assert cluster.docker("run", "--rm", repo, "test", "-e", "/bin/ls").returncode == 1
        inspected = ok(cluster.docker("image", "inspect", "-f",
                                      "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}", repo))
        assert inspected.strip() == 'someone|a message|["echo","hi"]'
    finally:
        cluster.docker("rmi", "-f", repo)


def test_cp_while_the_container_swaps_a_symlink_never_reaches_the_host(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    """CVE-2018-15664: /w flips between /real and / while we copy through it."""
    marker = f"dy-swap-{tmp_path.name[-12:]}"
    host_dir = Path("/tmp") / marker
    host_dir.mkdir()
    try:
        (host_dir / "secret").write_text("HOST\n")
        name = _run(cluster, names, busybox, "swap", "sh", "-c",
                    f"mkdir -p /real/tmp/{marker} /tmp/{marker}; "
                    f"echo REAL > /real/tmp/{marker}/secret; "
                    f"echo CONTAINER > /tmp/{marker}/secret; "
                    "while :; do ln -sfn /real /w; ln -sfn / /w; done")
        upload = tmp_path / "planted"
        upload.write_text("planted\n")
        seen: set[bytes] = set()
        for _ in range(15):
            result = docker_bytes(cluster, "cp", f"{name}:/w/tmp/{marker}/secret", "-")
            if result.returncode == 0:
                seen.add(_tar_file(result.stdout, "secret"))
            cluster.docker("cp", str(upload), f"{name}:/w/tmp/{marker}/")
        assert seen and seen <= {b"REAL\n", b"CONTAINER\n"}
        assert sorted(p.name for p in host_dir.iterdir()) == ["secret"]
        assert (host_dir / "secret").read_text() == "HOST\n"
    finally:
        for child in host_dir.iterdir():
            child.unlink()
        host_dir.rmdir()


def test_cp_archive_mode_gives_files_the_containers_user(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    name = names.new("owner")
    ok(cluster.docker("create", "--name", name, "-u", "1234:5678", busybox, "true"))
    source = tmp_path / "owned"
    source.write_text("x\n")
    ok(cluster.docker("cp", "-a", str(source), f"{name}:/tmp/"))
    ok(cluster.docker("cp", str(source), f"{name}:/tmp/plain"))
    for path, owner in (("/tmp/owned", (1234, 5678)), ("/tmp/plain", (0, 0))):
        result = docker_bytes(cluster, "cp", f"{name}:{path}", "-")
        assert result.returncode == 0, result.stderr
        with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
            member = tar.next()
            assert member is not None
            assert (member.uid, member.gid) == owner


def test_cp_reaches_a_running_containers_volume(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    volume_name = names.volume("cpvol")
    name = names.new("withvol")
    ok(cluster.docker("run", "-d", "--name", name, "-v", f"{volume_name}:/data", busybox,
                      *SLEEPER))
    source = tmp_path / "tovol"
    source.write_text("in the volume\n")
    ok(cluster.docker("cp", str(source), f"{name}:/data/"))
    reader = names.new("reader")
    assert ok(cluster.docker("run", "--name", reader, "-v", f"{volume_name}:/v", busybox,
                             "cat", "/v/tovol")) == "in the volume\n"
    ok(cluster.docker("exec", name, "sh", "-c", "echo from-inside > /data/back"))
    result = docker_bytes(cluster, "cp", f"{name}:/data/back", "-")
    assert _tar_file(result.stdout, "back") == b"from-inside\n"


def test_commit_keeps_a_replaced_directory_opaque(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("opaque")
    ok(cluster.docker("run", "--name", name, busybox, "sh", "-c",
                      "rm -rf /usr && mkdir -p /usr/only"))
    repo = f"dockyard-opaque-{name}"
    try:
        ok(cluster.docker("commit", name, repo))
        assert ok(cluster.docker("run", "--rm", repo, "ls", "/usr")) == "only\n"
        lines = ok(cluster.docker("diff", name)).splitlines()
        assert "C /usr" in lines and "A /usr/only" in lines
    finally:
        cluster.docker("rmi", "-f", repo)


def test_cp_into_a_read_only_rootfs_is_refused_but_its_volume_is_writable(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    volume = names.volume("rovol")
    name = names.new("readonly")
    ok(cluster.docker("run", "-d", "--read-only", "--name", name, "-v", f"{volume}:/data",
                      busybox, *SLEEPER))
    source = tmp_path / "f"
    source.write_text("f\n")
    refused = cluster.docker("cp", str(source), f"{name}:/tmp/")
    assert refused.returncode == 1 and "read-only" in refused.stderr
    ok(cluster.docker("cp", str(source), f"{name}:/data/"))
    assert ok(cluster.docker("exec", name, "cat", "/data/f")) == "f\n"
    ok(cluster.docker("stop", "-t", "0", name))
    stopped = cluster.docker("cp", str(source), f"{name}:/tmp/")
    assert stopped.returncode == 1 and "container rootfs is marked read-only" in stopped.stderr

"""The busybox rootfs tarball the tests import as their base image."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.busybox import BUSYBOX, applets, build_busybox_rootfs_tar

pytestmark = pytest.mark.skipif(
    not BUSYBOX.is_file(), reason="needs Debian's busybox-static (/bin/busybox)"
)


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox") / "rootfs.tar")


def names(tar_path: Path) -> set[str]:
    with tarfile.open(tar_path) as tar:
        return set(tar.getnames())


def test_holds_the_shell_the_binary_and_users(rootfs_tar: Path) -> None:
    assert {"bin/busybox", "bin/sh", "usr/bin/env", "etc/passwd", "etc/group"} <= names(
        rootfs_tar
    )
    with tarfile.open(rootfs_tar) as tar:
        passwd = tar.extractfile("etc/passwd")
        assert passwd is not None
        lines = passwd.read().decode().splitlines()
    assert "root:x:0:0:root:/root:/bin/sh" in lines
    assert any(line.startswith("nobody:x:65534:65534:") for line in lines)


def test_every_applet_is_linked(rootfs_tar: Path) -> None:
    listed = set(applets())
    missing = listed - names(rootfs_tar)
    assert not missing, f"applets missing from the rootfs: {sorted(missing)}"
    assert len(listed) > 100


def test_entries_are_owned_by_root_and_tmp_is_sticky(rootfs_tar: Path) -> None:
    with tarfile.open(rootfs_tar) as tar:
        members = tar.getmembers()
        by_name = {m.name: m for m in members}
    assert all(m.uid == 0 and m.gid == 0 for m in members)
    assert by_name["tmp"].isdir() and by_name["tmp"].mode == 0o1777
    for empty in ("proc", "sys", "dev", "root", "etc", "var", "home"):
        assert by_name[empty].isdir(), empty


def test_two_builds_are_byte_identical(rootfs_tar: Path, tmp_path: Path) -> None:
    again = build_busybox_rootfs_tar(tmp_path / "again.tar")
    assert again.read_bytes() == rootfs_tar.read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
@pytest.mark.skipif(shutil.which("chroot") is None, reason="needs chroot")
def test_shell_runs_in_a_chroot(rootfs_tar: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(rootfs_tar) as tar:
        tar.extractall(root, filter="tar")
    result = subprocess.run(
        ["chroot", str(root), "/bin/sh", "-c", "echo hi; ls /bin | wc -l"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    first, count = result.stdout.split()
    assert first == "hi"
    # bin/ holds busybox and its bin/ applets: about 78 on Debian 12.
    assert int(count) > 50

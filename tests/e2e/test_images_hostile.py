"""Hostile import archives: each is refused with a clear 400 or contained in its layer.

Refused ones leave nothing behind (no image, blob, layer directory or staging
file); no archive writes or links anything outside its target.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

Build = Callable[[tarfile.TarFile, Path], None]


def _file(tar: tarfile.TarFile, name: str, data: bytes = b"pwned") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _link(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    tar.addfile(info)


def dotdot(tar: tarfile.TarFile, canary: Path) -> None:
    _file(tar, "../" * 12 + str(canary).lstrip("/") + "/dotdot")


def hardlink_outside(tar: tarfile.TarFile, canary: Path) -> None:
    _link(tar, "stolen", str(canary / "secret"), tarfile.LNKTYPE)


def hardlink_dotdot(tar: tarfile.TarFile, canary: Path) -> None:
    _link(tar, "stolen", "../" * 12 + str(canary / "secret").lstrip("/"), tarfile.LNKTYPE)


def hardlink_through_symlink(tar: tarfile.TarFile, canary: Path) -> None:
    _link(tar, "escape", str(canary))
    _link(tar, "stolen", "escape/secret", tarfile.LNKTYPE)


def huge_header(tar: tarfile.TarFile, canary: Path) -> None:
    info = tarfile.TarInfo("big")
    info.pax_headers = {"comment": "x" * (2 << 20)}
    tar.addfile(info, io.BytesIO(b""))


REFUSED: dict[str, Build] = {
    "dotdot": dotdot,
    "hardlink-outside": hardlink_outside,
    "hardlink-dotdot": hardlink_dotdot,
    "hardlink-through-symlink": hardlink_through_symlink,
    "huge-header": huge_header,
}


def absolute(tar: tarfile.TarFile, canary: Path) -> None:
    _file(tar, str(canary / "absolute"))


def symlink_then_write(tar: tarfile.TarFile, canary: Path) -> None:
    _link(tar, "escape", str(canary))
    _file(tar, "escape/through-symlink")


def symlink_chain(tar: tarfile.TarFile, canary: Path) -> None:
    _link(tar, "a", "b")
    _link(tar, "b", "../" * 12 + str(canary).lstrip("/"))
    _file(tar, "a/through-chain")


def device_node(tar: tarfile.TarFile, canary: Path) -> None:
    info = tarfile.TarInfo("dev/null")
    info.type, info.devmajor, info.devminor, info.mode = tarfile.CHRTYPE, 1, 3, 0o666
    tar.addfile(info)
    _link(tar, "escape", str(canary))
    dev = tarfile.TarInfo("escape/node")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    tar.addfile(dev)


CONTAINED: dict[str, Build] = {
    "absolute": absolute,
    "symlink-then-write": symlink_then_write,
    "symlink-chain": symlink_chain,
    "device-node": device_node,
}


def _archive(build: Build, canary: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar, canary)
    return buffer.getvalue()


def _state(cluster: Cluster) -> tuple[set[str], set[str], set[str], set[str]]:
    data = cluster.data_root
    client = cluster.client()
    try:
        images = {i.id for i in client.images.list(all=True)}
    finally:
        client.close()
    return (
        images,
        _names(data / "image" / "blobs" / "sha256"),
        _names(data / "overlay"),
        _names(data / "overlay" / "tmp") | _names(data / "image" / "tmp"),
    )


def _names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    (tmp_path / "secret").write_text("do not touch")
    return tmp_path


def _outside_untouched(canary: Path) -> None:
    assert _names(canary) == {"secret"}
    assert (canary / "secret").read_text() == "do not touch"
    assert (canary / "secret").stat().st_nlink == 1


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_archives_leave_nothing(cluster: Cluster, canary: Path, case: str) -> None:
    before = _state(cluster)
    api = docker.APIClient(base_url=cluster.docker_host, version="1.47")
    try:
        with pytest.raises(docker.errors.APIError) as failure:
            api.import_image_from_data(_archive(REFUSED[case], canary),
                                       repository=f"hostile-{case}")
    finally:
        api.close()
    assert failure.value.status_code == 400
    assert "archive" in str(failure.value.explanation)
    assert _state(cluster) == before
    _outside_untouched(canary)


@pytest.mark.parametrize("case", sorted(CONTAINED))
def test_contained_archives_stay_inside(cluster: Cluster, canary: Path, case: str) -> None:
    repo = f"contained-{case}-{uuid.uuid4().hex[:6]}"
    api = docker.APIClient(base_url=cluster.docker_host, version="1.47")
    try:
        api.import_image_from_data(_archive(CONTAINED[case], canary), repository=repo)
        try:
            _outside_untouched(canary)
            layer = api.inspect_image(repo)["RootFS"]["Layers"][0]
            diff = cluster.data_root / "overlay" / layer[7:] / "diff"
            inside = diff / str(canary).lstrip("/")
            written = [p.name for p in inside.iterdir()] if inside.is_dir() else []
            assert written or case == "device-node" or (diff / "through-chain").exists()
        finally:
            api.remove_image(repo)
    finally:
        api.close()


def test_truncated_archives_are_refused(cluster: Cluster, tmp_path: Path) -> None:
    whole = cached_busybox_rootfs_tar(tmp_path).read_bytes()
    before = _state(cluster)
    api = docker.APIClient(base_url=cluster.docker_host, version="1.47")
    try:
        for cut in (len(whole) // 2, len(whole) // 2 + 100, 700):
            with pytest.raises(docker.errors.APIError) as failure:
                api.import_image_from_data(whole[:cut], repository="truncated")
            assert failure.value.status_code == 400
            assert "unexpected end of data" in str(failure.value.explanation)
    finally:
        api.close()
    assert _state(cluster) == before

"""Layers unpacked for real and stacked under a real overlay mount (no etcd needed)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.imaged.layers import LayerStore, chain_id, short_link
from services.imaged.records import LayerRecord
from services.imaged.snapshots import ADDED, DELETED, MODIFIED, Snapshotter
from services.imaged.unpack import OPAQUE_XATTR, unpack

pytestmark = pytest.mark.root


def tar_of(entries: list[tuple[str, bytes | None, int]]) -> bytes:
    """(name, data or None for a directory, mode) → an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LayerStore]:
    layers = LayerStore(tmp_path / "overlay")
    layers.setup()
    yield layers
    # Unmount anything a failed test left mounted before tmp_path is removed.
    for entry in layers.root.iterdir():
        merged = entry / "merged"
        while merged.is_dir() and os.path.ismount(merged):
            os.system(f"umount -l {merged}")


def add_layer(store: LayerStore, stack: list[LayerRecord], archive: bytes) -> LayerRecord:
    staging = store.staging()
    unpacked = unpack(io.BytesIO(archive), str(staging / "diff"))
    parent = stack[-1].chain_id if stack else ""
    chain = chain_id(parent, unpacked.diff_id)
    record = LayerRecord(chain, unpacked.diff_id, parent, unpacked.size, short_link(chain))
    store.commit(staging, record, [layer.link for layer in reversed(stack)])
    stack.append(record)
    return record


def test_whiteouts_become_overlay_whiteouts(store: LayerStore) -> None:
    stack: list[LayerRecord] = []
    add_layer(store, stack, tar_of([("etc/", None, 0o755), ("etc/gone", b"x", 0o644),
                                    ("data/", None, 0o755), ("data/old", b"o", 0o644)]))
    top = add_layer(store, stack, tar_of([("etc/.wh.gone", b"", 0o644),
                                          ("data/", None, 0o755),
                                          ("data/.wh..wh..opq", b"", 0o644),
                                          ("data/new", b"n", 0o644)]))
    diff = store.diff_dir(top.chain_id)
    st = os.lstat(diff / "etc" / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(diff / "data", OPAQUE_XATTR) == b"y"
    assert not (diff / "data" / ".wh..wh..opq").exists()

    snapshots = Snapshotter(store)
    cid = uuid.uuid4().hex * 2
    rootfs = snapshots.prepare(cid, stack)
    try:
        assert not (rootfs / "etc" / "gone").exists()
        assert [p.name for p in (rootfs / "data").iterdir()] == ["new"]
        (rootfs / "hello").write_text("hi")
        (rootfs / "data" / "new").unlink()
        assert (snapshots.snapshot_dir(cid) / "diff" / "hello").read_text() == "hi"
        changes = {c.path: c.kind for c in snapshots.changes(cid, stack)}
        assert changes["/hello"] == ADDED
        assert changes["/data"] == MODIFIED
        assert changes["/data/new"] == DELETED
    finally:
        snapshots.remove(cid)
    assert not os.path.ismount(rootfs)
    assert not snapshots.snapshot_dir(cid).exists()


def test_metadata_is_kept(store: LayerStore) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("bin/tool")
        info.mode, info.uid, info.gid, info.size, info.mtime = 0o4755, 12, 34, 3, 1_000_000
        info.pax_headers = {"SCHILY.xattr.user.note": "hello"}
        tar.addfile(info, io.BytesIO(b"abc"))
        link = tarfile.TarInfo("bin/tool2")
        link.type, link.linkname = tarfile.LNKTYPE, "bin/tool"
        tar.addfile(link)
        device = tarfile.TarInfo("dev/null")
        device.type, device.devmajor, device.devminor, device.mode = tarfile.CHRTYPE, 1, 3, 0o666
        tar.addfile(device)
    record = add_layer(store, [], buffer.getvalue())
    diff = store.diff_dir(record.chain_id)
    st = os.lstat(diff / "bin" / "tool")
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert (st.st_uid, st.st_gid) == (12, 34)
    assert int(st.st_mtime) == 1_000_000
    assert os.lstat(diff / "bin" / "tool2").st_ino == st.st_ino
    dev = os.lstat(diff / "dev" / "null")
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    with_xattr = os.getxattr(diff / "bin" / "tool", "user.note") if _user_xattrs(diff) else b"hello"
    assert with_xattr == b"hello"
    assert record.size == 3


def _user_xattrs(path: Path) -> bool:
    try:
        os.setxattr(path, "user.probe", b"1")
    except OSError:
        return False
    os.removexattr(path, "user.probe")
    return True


def test_many_layers_mount(store: LayerStore) -> None:
    """130 layers: absolute lowerdirs exceed a page, so the relative l/ form is used."""
    stack: list[LayerRecord] = []
    for n in range(130):
        add_layer(store, stack, tar_of([(f"layer{n}", str(n).encode(), 0o644),
                                        ("top", str(n).encode(), 0o644)]))
    snapshots = Snapshotter(store)
    cid = uuid.uuid4().hex * 2
    rootfs = snapshots.prepare(cid, stack)
    try:
        assert os.path.ismount(rootfs)
        assert (rootfs / "layer0").read_text() == "0"
        assert (rootfs / "layer129").read_text() == "129"
        assert (rootfs / "top").read_text() == "129"
    finally:
        snapshots.remove(cid)
    assert not snapshots.snapshot_dir(cid).exists()

"""Volumes against real etcd, real tmpfs and bind mounts, and a real overlay snapshot."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.errors import Conflict, InvalidArgument, NotFound
from services.common.etcd_store import Store
from services.imaged.importer import import_image
from services.imaged.models import ImportOptions
from services.imaged.service import ImageService
from services.imaged.volumes.models import ANONYMOUS_LABEL, VolumeSpec
from services.imaged.volumes.mounts import is_mount_point
from services.imaged.volumes.service import VolumeService

pytestmark = pytest.mark.root

C1, C2 = "c1" * 32, "c2" * 32


@pytest.fixture
async def volumes(etcd_url: str, tmp_path: Path) -> AsyncIterator[VolumeService]:
    store = Store([etcd_url])
    await store.connect()
    images = ImageService(store, tmp_path / "data")
    await images.setup()
    service = VolumeService(store, tmp_path / "data", images)
    await service.setup()
    yield service
    subprocess.run(["umount", "-R", "-l", str(tmp_path)], capture_output=True, check=False)
    await store.client.delete_prefix(b"/dockyard/v1/")
    await store.close()


def is_mounted(path: Path) -> bool:
    return is_mount_point(path)


async def test_create_inspect_list_remove(volumes: VolumeService) -> None:
    created = await volumes.create(VolumeSpec(name="data", labels={"a": "b"}))
    assert created.mountpoint == str(volumes.root / "data" / "_data")
    assert Path(created.mountpoint).is_dir() and created.options is None
    assert created.created_at.endswith("Z") and len(created.created_at) == 20
    # Creating it again returns it unchanged, as dockerd does.
    again = await volumes.create(VolumeSpec(name="data", labels={"other": "x"}))
    assert again == created
    assert (await volumes.inspect("data")).labels == {"a": "b"}
    assert [v.name for v in await volumes.list_volumes({"label": ("a=b",)})] == ["data"]
    (Path(created.mountpoint) / "file").write_text("kept")
    await volumes.remove("data")
    assert not (volumes.root / "data").exists()
    with pytest.raises(NotFound) as missing:
        await volumes.inspect("data")
    assert missing.value.message == "get data: no such volume"
    await volumes.remove("data", force=True)  # forced: a missing volume is fine


async def test_bad_requests_are_refused_with_dockers_words(volumes: VolumeService) -> None:
    with pytest.raises(InvalidArgument) as bad_name:
        await volumes.create(VolumeSpec(name="bad/name"))
    assert bad_name.value.message.startswith('create bad/name: "bad/name" includes invalid')
    with pytest.raises(InvalidArgument) as bad_option:
        await volumes.create(VolumeSpec(name="v3", driver_opts={"foo": "bar"}))
    assert bad_option.value.message == 'create v3: invalid option: "foo"'
    with pytest.raises(NotFound) as bad_driver:
        await volumes.create(VolumeSpec(name="v4", driver="nope"))
    assert bad_driver.value.message == (
        'create v4: error looking up volume plugin nope: plugin "nope" not found')
    assert await volumes.list_volumes({}) == []


async def test_anonymous_volumes_and_prune(volumes: VolumeService) -> None:
    anonymous = await volumes.create(VolumeSpec())
    assert len(anonymous.name) == 64 and anonymous.labels == {ANONYMOUS_LABEL: ""}
    used = await volumes.create(VolumeSpec())
    await volumes.reference(used.name, C1)
    named = await volumes.create(VolumeSpec(name="named", labels={"team": "a"}))
    (Path(anonymous.mountpoint) / "blob").write_bytes(b"x" * 1000)

    result = await volumes.prune({})
    assert result.deleted == (anonymous.name,) and result.space_reclaimed == 1000
    assert await volumes.prune({"all": ("true",), "label!": ("team",)}) == type(result)((), 0)
    result = await volumes.prune({"all": ("true",), "label": ("team=a",)})
    assert result.deleted == (named.name,)
    assert [v.name for v in await volumes.list_volumes({})] == [used.name]
    with pytest.raises(InvalidArgument) as bad:
        await volumes.prune({"until": ("1h",)})
    assert bad.value.message == "Invalid filter 'until'"


async def test_a_referenced_volume_cannot_be_removed(volumes: VolumeService) -> None:
    await volumes.create(VolumeSpec(name="busy"))
    await volumes.reference("busy", C2)
    await volumes.reference("busy", C1)
    assert (await volumes.inspect("busy")).users == (C1, C2)
    assert [v.name for v in await volumes.list_volumes({"dangling": ("true",)})] == []
    for force in (False, True):
        with pytest.raises(Conflict) as error:
            await volumes.remove("busy", force=force)
        assert error.value.message == f"remove busy: volume is in use - [{C1}, {C2}]"
    await volumes.release("busy", C1)
    await volumes.release("busy", C2)
    await volumes.release("busy", C2)  # releasing twice is a no-op
    await volumes.remove("busy")


async def test_tmpfs_is_mounted_while_used_and_gone_after(volumes: VolumeService) -> None:
    volume = await volumes.create(VolumeSpec(name="scratch", driver_opts={
        "type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0700"}))
    data = Path(volume.mountpoint)
    assert not is_mounted(data)
    path = await volumes.mount("scratch", C1)
    assert path == data and is_mounted(data)
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    (data / "note").write_text("in memory")
    await volumes.mount("scratch", C2)
    await volumes.unmount("scratch", C1)
    assert is_mounted(data) and (data / "note").read_text() == "in memory"
    await volumes.unmount("scratch", C2)
    assert not is_mounted(data) and not (data / "note").exists()
    await volumes.unmount("scratch", C2)  # already at zero: a no-op
    assert (await volumes.inspect("scratch")).users == (C1, C2)  # references stay


async def test_a_failing_mount_changes_nothing(volumes: VolumeService) -> None:
    await volumes.create(VolumeSpec(name="broken", driver_opts={
        "type": "tmpfs", "device": "tmpfs", "o": "bogus"}))
    with pytest.raises(InvalidArgument) as error:
        await volumes.mount("broken", C1)
    assert error.value.message.startswith("failed to mount local volume: mount tmpfs:")
    assert (await volumes.inspect("broken")).users == ()


async def test_bind_volume_removal_keeps_host_data(volumes: VolumeService, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "precious").write_text("do not delete")
    volume = await volumes.create(VolumeSpec(name="bound", driver_opts={
        "type": "none", "o": "bind", "device": str(host)}))
    data = Path(volume.mountpoint)
    await volumes.mount("bound", C1)
    assert (data / "precious").read_text() == "do not delete"
    await volumes.release("bound", C1)
    assert not is_mounted(data)
    await volumes.remove("bound")
    assert (host / "precious").read_text() == "do not delete"


async def test_setup_unmounts_what_nobody_uses(volumes: VolumeService) -> None:
    await volumes.create(VolumeSpec(name="left", driver_opts={"type": "tmpfs",
                                                             "device": "tmpfs"}))
    await volumes.mount("left", C1)
    # A crash after the count dropped but before the unmount:
    await volumes.store.put(f"volume-users/left/{C1}", b'{"mounts": 0, "v": 1}')
    (volumes.root / "stray" / "_data").mkdir(parents=True)
    await volumes.setup()
    assert not is_mounted(volumes.data_dir("left"))
    assert not (volumes.root / "stray").exists()


def _image_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
                uid: int = 0, link: str = "", xattrs: dict[str, str] | None = None) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid, info.linkname = kind, mode, uid, uid, link
            info.size = len(data)
            info.mtime = 1600000000
            if xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
            tar.addfile(info, io.BytesIO(data))
        add("srv/", tarfile.DIRTYPE, mode=0o750, uid=1000)
        add("srv/conf/", tarfile.DIRTYPE, mode=0o755, uid=1000)
        add("srv/conf/app.ini", data=b"[app]\n", mode=0o640, uid=1000,
            xattrs={"user.origin": "image"})
        add("srv/run.sh", data=b"#!/bin/sh\n", mode=0o4755)
        add("srv/hard", tarfile.LNKTYPE, link="srv/run.sh")
        add("srv/current", tarfile.SYMTYPE, link="conf/app.ini")
        add("escape", tarfile.SYMTYPE, link="/../../../../etc")
    return buffer.getvalue()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_copy_up_fills_a_new_volume_once(volumes: VolumeService) -> None:
    images = volumes.images
    await import_image(images, ImportOptions(repo="copyup", tag="1"), _chunks(_image_tar()))
    rootfs = await images.prepare_snapshot(C1, "copyup:1")
    try:
        await volumes.create(VolumeSpec(name="srv"))
        assert await volumes.populate("srv", C1, "/srv") is True
        data = volumes.data_dir("srv")
        st = data.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1000, 0o750)
        ini = data / "conf" / "app.ini"
        assert ini.read_text() == "[app]\n" and ini.stat().st_uid == 1000
        assert ini.stat().st_mode & 0o7777 == 0o640
        assert os.getxattr(ini, "user.origin") == b"image"
        assert (data / "run.sh").stat().st_mode & 0o7777 == 0o4755
        assert (data / "hard").stat().st_ino == (data / "run.sh").stat().st_ino
        assert str((data / "current").readlink()) == "conf/app.ini"
        assert int(ini.stat().st_mtime) == 1600000000

        # Populated once: a later copy-up leaves the data alone, even emptied.
        ini.unlink()
        assert await volumes.populate("srv", C1, "/srv") is False
        assert not ini.exists()

        # A symlink out of the image resolves inside the container's root.
        await volumes.create(VolumeSpec(name="etc"))
        assert await volumes.populate("etc", C1, "/escape") is False
        assert list(volumes.data_dir("etc").iterdir()) == []

        # A volume that has data is never overwritten.
        await volumes.create(VolumeSpec(name="full"))
        (volumes.data_dir("full") / "mine").write_text("user data")
        assert await volumes.populate("full", C1, "/srv") is False
        assert sorted(p.name for p in volumes.data_dir("full").iterdir()) == ["mine"]
        assert (rootfs / "srv" / "conf" / "app.ini").exists()  # the image is untouched
    finally:
        await images.remove_snapshot(C1)


async def test_copy_up_into_tmpfs_needs_the_containers_mount(volumes: VolumeService) -> None:
    images = volumes.images
    await import_image(images, ImportOptions(repo="copyup", tag="2"), _chunks(_image_tar()))
    await images.prepare_snapshot(C2, "copyup:2")
    try:
        await volumes.create(VolumeSpec(name="mem", driver_opts={"type": "tmpfs",
                                                                "device": "tmpfs"}))
        await volumes.mount("mem", C2)
        assert await volumes.populate("mem", C2, "/srv/conf") is True
        assert (volumes.data_dir("mem") / "app.ini").read_text() == "[app]\n"
        assert is_mounted(volumes.data_dir("mem"))
        await volumes.unmount("mem", C2)
        with pytest.raises(NotFound):
            await volumes.populate("mem", C1, "/srv")  # C1 has no snapshot
    finally:
        await images.remove_snapshot(C2)

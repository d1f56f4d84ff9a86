"""save and load against real etcd and real layer directories, hostile archives included.

Each refused archive must leave nothing behind: no image, tag or layer record,
no blob, no layer directory, nothing in the staging directories.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.common.etcd_store import Store
from services.imaged.importer import import_image
from services.imaged.loader import load_images
from services.imaged.models import ImportOptions
from services.imaged.removal import remove_image
from services.imaged.saver import archive_chunks, plan_save
from services.imaged.service import ImageService
from tests.support.image_archives import (
    docker_archive,
    image_config,
    layer_tar,
    oci_archive,
    sha256,
    tar_of,
)

pytestmark = pytest.mark.root

REAL_DOCKER_SAVE = Path(__file__).parent.parent / "data" / "docker-save-20.10.tar"
# What dockerd 20.10.24 reported for the image in that archive (`docker inspect`).
REAL_DOCKER_ID = "sha256:25043a5cef871f858d6a83c05959059bb2593c85f5944d65a37e8edf1ea79f8e"
REAL_DOCKER_DIFF_ID = "sha256:21e26174c0cb1085ecadf34c1ebe8c3d96d20914daceac62c59187058fd52e43"


@pytest.fixture
async def service(etcd_url: str, tmp_path: Path) -> AsyncIterator[ImageService]:
    store = Store([etcd_url])
    await store.connect()
    images = ImageService(store, tmp_path / "data")
    await images.setup()
    yield images
    subprocess.run(["umount", "-R", "-l", str(tmp_path)], capture_output=True, check=False)
    await store.client.delete_prefix(b"/dockyard/v1/")
    await store.close()


async def _chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def load(service: ImageService, data: bytes) -> list[str]:
    return await load_images(service, _chunks(data))


async def save(service: ImageService, names: list[str]) -> bytes:
    plan = await plan_save(service, names)
    try:
        return b"".join(archive_chunks(plan, 1000))
    finally:
        plan.close()


def members(archive: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            handle = tar.extractfile(member)
            out[member.name] = handle.read() if handle else b""
    return out


async def assert_nothing_left(service: ImageService) -> None:
    assert await service.catalog.images() == {}
    assert await service.catalog.layers() == {}
    assert await service.catalog.refs() == []
    assert service.blobs.digests() == []
    assert list(service.blobs.tmp.iterdir()) == []
    assert list(service.layers.tmp.iterdir()) == []
    assert sorted(p.name for p in service.layers.root.iterdir()) == ["l", "tmp"]


async def test_real_docker_save_loads_with_its_image_id(service: ImageService) -> None:
    lines = await load(service, REAL_DOCKER_SAVE.read_bytes())
    assert lines == ["Loaded image: dockyard-fixture:v1\n"]
    record = await service.catalog.resolve("dockyard-fixture:v1")
    assert record.id == REAL_DOCKER_ID
    details = await service.inspect("dockyard-fixture:v1")
    assert details.config["config"]["Cmd"] == ["/bin/greet"]
    layer = (await service.catalog.layers())[record.layers[0]]
    assert layer.diff_id == REAL_DOCKER_DIFF_ID
    diff = service.layers.diff_dir(layer.chain_id)
    assert (diff / "hello.txt").read_text() == "hello from real docker\n"
    assert str((diff / "link").readlink()) == "hello.txt"
    assert (diff / "bin" / "greet").stat().st_mode & 0o777 == 0o755

    # Saved again, the layer is byte for byte the one dockerd wrote.
    original = members(REAL_DOCKER_SAVE.read_bytes())
    saved = members(await save(service, ["dockyard-fixture:v1"]))
    layer_bytes = saved[f"blobs/sha256/{REAL_DOCKER_DIFF_ID[7:]}"]
    assert sha256(layer_bytes) == REAL_DOCKER_DIFF_ID
    legacy_layer = next(v for k, v in original.items() if k.endswith("/layer.tar"))
    assert layer_bytes == legacy_layer
    assert saved[f"blobs/sha256/{REAL_DOCKER_ID[7:]}"] == original[f"{REAL_DOCKER_ID[7:]}.json"]


async def test_save_writes_dockers_current_format_and_loads_back(service: ImageService) -> None:
    rootfs = layer_tar({"etc/hostname": b"box\n", "bin/app": b"#!/bin/sh\n"})
    image_id = await import_image(
        service, ImportOptions(repo="me/app", tag="1", changes=("CMD [\"/bin/app\"]",)),
        _chunks(gzip.compress(rootfs)),
    )
    archive = await save(service, ["me/app:1"])
    files = members(archive)
    diff_id = sha256(rootfs)
    assert set(files) == {
        "blobs", "blobs/sha256", f"blobs/sha256/{image_id[7:]}", f"blobs/sha256/{diff_id[7:]}",
        *(n for n in files if n.startswith("blobs/sha256/") and n.count("/") == 2),
        "index.json", "manifest.json", "oci-layout", "repositories",
    }
    # The layer is the uncompressed tar the import received, so its digest is the DiffID.
    assert files[f"blobs/sha256/{diff_id[7:]}"] == rootfs
    manifest = json.loads(files["manifest.json"])
    assert manifest == [{"Config": f"blobs/sha256/{image_id[7:]}", "RepoTags": ["me/app:1"],
                         "Layers": [f"blobs/sha256/{diff_id[7:]}"]}]
    assert json.loads(files["repositories"]) == {"me/app": {"1": diff_id[7:]}}
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    descriptor = index["manifests"][0]
    assert descriptor["annotations"] == {"io.containerd.image.name": "docker.io/me/app:1",
                                         "org.opencontainers.image.ref.name": "1"}
    oci_manifest = json.loads(files[f"blobs/sha256/{descriptor['digest'][7:]}"])
    assert sha256(files[f"blobs/sha256/{descriptor['digest'][7:]}"]) == descriptor["digest"]
    assert oci_manifest["config"]["digest"] == image_id
    assert oci_manifest["layers"] == [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": diff_id, "size": len(rootfs)}]

    await remove_image(service, "me/app:1")
    await assert_nothing_left(service)
    assert await load(service, archive) == ["Loaded image: me/app:1\n"]
    assert (await service.catalog.resolve("me/app:1")).id == image_id
    # The archive also loads as a plain OCI layout (index.json only).
    without_manifest = tar_of([(n, d) for n, d in files.items()
                               if n not in ("manifest.json", "repositories")
                               and n.startswith(("blobs/sha256/", "index", "oci"))])
    await remove_image(service, "me/app:1")
    assert await load(service, without_manifest) == ["Loaded image: me/app:1\n"]


async def test_many_images_with_a_shared_layer_round_trip(service: ImageService) -> None:
    base = layer_tar({"base": b"b"})
    top = layer_tar({"top": b"t"})
    archive = docker_archive([([base], ["one:1"]), ([base, top], ["two:2", "two:latest"])])
    lines = await load(service, gzip.compress(archive))  # compressed archives load too
    assert lines == ["Loaded image: one:1\n", "Loaded image: two:2\n",
                     "Loaded image: two:latest\n"]
    ids = {n: (await service.catalog.resolve(n)).id for n in ("one:1", "two:2")}
    assert len(await service.catalog.layers()) == 2  # the base layer is shared

    saved = await save(service, ["one:1", "two"])
    manifest = json.loads(members(saved)["manifest.json"])
    assert [m["RepoTags"] for m in manifest] == [["one:1"], ["two:2", "two:latest"]]
    for name in ("one:1", "two:2", "two:latest"):
        await remove_image(service, name)
    await assert_nothing_left(service)
    await load(service, saved)
    assert {n: (await service.catalog.resolve(n)).id for n in ids} == ids


async def test_untagged_images_print_their_id(service: ImageService) -> None:
    layer = layer_tar({"x": b"1"})
    lines = await load(service, docker_archive([([layer], [])]))
    image_id = sha256(image_config([sha256(layer)]))
    assert lines == [f"Loaded image ID: {image_id}\n"]
    saved = members(await save(service, [image_id[7:19]]))
    assert json.loads(saved["manifest.json"])[0]["RepoTags"] is None
    assert "repositories" not in saved


async def test_oci_layout_names_come_from_annotations(service: ImageService) -> None:
    layer = layer_tar({"oci": b"1"})
    named = oci_archive([layer], {"io.containerd.image.name": "example.com/team/app:2.0",
                                  "org.opencontainers.image.ref.name": "2.0"})
    assert await load(service, named) == ["Loaded image: example.com/team/app:2.0\n"]
    bare = oci_archive([layer_tar({"oci": b"2"})], {"org.opencontainers.image.ref.name": "v1"})
    (line,) = await load(service, bare)
    assert line.startswith("Loaded image ID: sha256:")


def _entry(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _good() -> tuple[bytes, bytes, bytes]:
    layer = layer_tar({"f": b"data"})
    config = image_config([sha256(layer)])
    manifest = json.dumps([{"Config": f"blobs/sha256/{sha256(config)[7:]}",
                            "RepoTags": ["hostile:1"],
                            "Layers": [f"blobs/sha256/{sha256(layer)[7:]}"]}]).encode()
    return layer, config, manifest


def _with(manifest_name: str = "manifest.json", **replace: bytes) -> bytes:
    layer, config, manifest = _good()
    entries = [(f"blobs/sha256/{sha256(config)[7:]}", replace.get("config", config)),
               (f"blobs/sha256/{sha256(layer)[7:]}", replace.get("layer", layer)),
               (manifest_name, replace.get("manifest", manifest))]
    return tar_of(entries)


def _truncated() -> bytes:
    data = _with()
    return data[: len(data) // 2 + 100]


def _huge_header() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("manifest.json")
        info.pax_headers = {"comment": "x" * (2 << 20)}
        tar.addfile(info, io.BytesIO(b""))
    return buffer.getvalue()


def _hostile_layer() -> bytes:
    evil = tar_of([("../../../../../../tmp/dockyard-load-escape", b"pwned")])
    config = image_config([sha256(evil)])
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["x:1"],
                            "Layers": ["l.tar"]}]).encode()
    return tar_of([("c.json", config), ("l.tar", evil), ("manifest.json", manifest)])


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "dotdot": (lambda: tar_of([("../escape", b"x")]), "points outside the archive"),
    "absolute": (lambda: tar_of([("/etc/escape", b"x")]), "is an absolute path"),
    "symlink out with dotdot": (lambda: tar_of([], extra=[
        _entry("manifest.json", tarfile.SYMTYPE, "../../../../etc/passwd")]),
        "leads outside the archive"),
    "symlink to an absolute path": (lambda: tar_of([], extra=[
        _entry("manifest.json", tarfile.SYMTYPE, "/etc/passwd")]), "absolute path"),
    "hard link to the host": (lambda: tar_of([], extra=[
        _entry("manifest.json", tarfile.LNKTYPE, "/etc/passwd")]), "absolute path"),
    "device node": (lambda: tar_of([], extra=[_entry("dev", tarfile.CHRTYPE)]),
                    "special file"),
    "config digest mismatch": (lambda: _with(config=image_config([sha256(b"other")])),
                               "does not match its digest"),
    "layer digest mismatch": (lambda: _with(layer=layer_tar({"f": b"evil"})),
                              "does not match its digest"),
    "layers count mismatch": (lambda: _with(manifest=json.dumps([{
        "Config": f"blobs/sha256/{sha256(_good()[1])[7:]}", "RepoTags": [],
        "Layers": []}]).encode()), "layers length mismatch"),
    "truncated": (_truncated, "unexpected end of data"),
    "huge header": (_huge_header, "exceeds"),
    "not a tar": (lambda: b"hello world\n" * 10, "invalid tar archive"),
    "no manifest": (lambda: tar_of([("x", b"1")]), "neither manifest.json"),
    "hostile layer": (_hostile_layer, "points outside the target directory"),
    "windows image": (lambda: tar_of([
        ("c.json", image_config([], os_name="windows")),
        ("manifest.json", b'[{"Config":"c.json","RepoTags":[],"Layers":[]}]')]),
        "cannot load windows image on linux"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_archives_are_refused_and_leave_nothing(
    service: ImageService, case: str
) -> None:
    build, words = HOSTILE[case]
    with pytest.raises(InvalidArgument) as error:
        await load(service, build())
    assert words in error.value.message
    await assert_nothing_left(service)
    assert not Path("/tmp/dockyard-load-escape").exists()


async def test_a_second_bad_image_undoes_the_first(service: ImageService) -> None:
    good = layer_tar({"g": b"1"})
    bad_layer = layer_tar({"b": b"1"})
    config = image_config([sha256(b"not this layer")])
    archive = docker_archive([([good], ["good:1"])])
    files = dict(members(archive))
    manifest = json.loads(files.pop("manifest.json"))
    files[f"blobs/sha256/{sha256(config)[7:]}"] = config
    files["bad.tar"] = bad_layer
    manifest.append({"Config": f"blobs/sha256/{sha256(config)[7:]}", "RepoTags": ["bad:1"],
                     "Layers": ["bad.tar"]})
    files["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(InvalidArgument) as error:
        await load(service, tar_of([(n, d) for n, d in files.items() if n.count("/") != 1]))
    assert "invalid diffID for layer 0" in error.value.message
    await assert_nothing_left(service)

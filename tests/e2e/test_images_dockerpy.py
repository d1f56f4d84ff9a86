"""Images through docker-py, and container snapshots through imaged's typed gRPC client."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import docker
import pytest

from services.common.errors import Conflict, NotFound
from services.common.grpc_client import open_channel
from services.imaged.client import ImagesClient
from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster
from tests.unit.spec_schema import validate

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox")).read_bytes()


def test_dockerpy_import_list_get_remove_prune(cluster: Cluster, rootfs: bytes) -> None:
    repo = f"py-{uuid.uuid4().hex[:8]}"
    api = docker.APIClient(base_url=cluster.docker_host, version="1.47")
    client = cluster.client()
    try:
        out = api.import_image_from_data(rootfs, repository=repo, tag="v1",
                                         changes=['ENTRYPOINT ["/bin/sh"]', "WORKDIR /tmp"])
        assert '"status":"sha256:' in out
        image = client.images.get(f"{repo}:v1")
        assert image.tags == [f"{repo}:v1"]
        assert image.attrs["Config"]["Entrypoint"] == ["/bin/sh"]
        assert image.attrs["Config"]["WorkingDir"] == "/tmp"
        assert validate(image.attrs, "ImageInspect") == []
        listed = api.images(name=repo)
        assert [i["Id"] for i in listed] == [image.id]
        assert all(validate(i, "ImageSummary") == [] for i in listed)
        history = api.history(image.id)
        assert all(validate(h, "ImageHistoryResponseItem") == [] for h in history)

        assert image.tag(repo, "v2")
        client.images.remove(f"{repo}:v1")
        assert client.images.get(image.id).tags == [f"{repo}:v2"]
        client.images.remove(f"{repo}:v2")
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(image.id)

        api.import_image_from_data(rootfs)  # dangling
        report = client.images.prune()
        assert report["ImagesDeleted"] and report["SpaceReclaimed"] >= 0
    finally:
        client.close()
        api.close()


async def _snapshot_round_trip(cluster: Cluster, image: str) -> None:
    channel = open_channel(cluster.paths.service_target("imaged"))
    images = ImagesClient(channel)
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    try:
        prepared = await images.prepare_snapshot(cid, image)
        try:
            rootfs = prepared.rootfs
            assert os.path.ismount(rootfs)
            assert (rootfs / "bin" / "busybox").is_file()
            (rootfs / "etc" / "hello").write_text("hi")
            upper = cluster.data_root / "overlay" / cid / "diff"
            assert (upper / "etc" / "hello").read_text() == "hi"
            changes = {c.path: c.kind for c in await images.snapshot_changes(cid)}
            assert changes == {"/etc": 0, "/etc/hello": 1}
            with pytest.raises(Conflict):
                await images.prepare_snapshot(cid, image)
            with pytest.raises(Conflict, match="being used by stopped container"):
                await images.remove_image(prepared.image_id)
        finally:
            await images.remove_snapshot(cid)
        assert not os.path.ismount(rootfs)
        assert not Path(rootfs).parent.exists()
        with pytest.raises(NotFound):
            await images.remove_snapshot(cid)
    finally:
        await channel.close()


def test_snapshot_prepare_write_remove(cluster: Cluster, rootfs: bytes) -> None:
    repo = f"snap-{uuid.uuid4().hex[:8]}"
    api = docker.APIClient(base_url=cluster.docker_host, version="1.47")
    try:
        api.import_image_from_data(rootfs, repository=repo)
        asyncio.run(_snapshot_round_trip(cluster, repo))
        api.remove_image(repo)
    finally:
        api.close()

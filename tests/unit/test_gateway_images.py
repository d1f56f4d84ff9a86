"""Image routes against a fake imaged: paths with slashes, query quirks, response shapes."""

from __future__ import annotations

import pytest

from gateway.backends import Backends
from services.imaged.models import ImageDetails
from tests.unit.gateway_fakes import FakeImages, fake_backends, make_app, serving
from tests.unit.spec_schema import validate

IMAGE_ID = "sha256:" + "cd" * 32


def _backends_with_image() -> tuple[FakeImages, Backends]:
    backends = fake_backends()
    images = backends.images
    assert isinstance(images, FakeImages)
    images.images[IMAGE_ID] = ImageDetails(
        id=IMAGE_ID, repo_tags=("me/app:1",), repo_digests=(), parent="", size=42,
        config={"created": "2024-01-01T00:00:00Z", "os": "linux", "architecture": "amd64",
                "config": {"Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "ef" * 32]}},
        graph_driver={"UpperDir": "/x/diff"},
    )
    images.tags["me/app:1"] = IMAGE_ID
    return images, backends


async def test_inspect_by_name_with_a_slash() -> None:
    _, backends = _backends_with_image()
    async with serving(make_app(backends)) as client:
        response = await client.get("/v1.47/images/me/app:1/json")
        assert response.status == 200
        body = await response.json()
        assert body["Id"] == IMAGE_ID
        assert body["RootFS"]["Layers"] == ["sha256:" + "ef" * 32]
        assert validate(body, "ImageInspect") == []
        missing = await client.get("/images/nope/json")
        assert missing.status == 404
        assert (await missing.json()) == {"message": "No such image: nope:latest"}
        assert "ContainerConfig" not in body and "Container" not in body


async def test_inspect_for_old_clients_has_container_config() -> None:
    """docker-compose 1.29 (API 1.25-1.41) reads ContainerConfig.Volumes when it recreates."""
    _, backends = _backends_with_image()
    async with serving(make_app(backends)) as client:
        body = await (await client.get("/v1.41/images/me/app:1/json")).json()
    assert body["Container"] == ""
    assert body["ContainerConfig"]["Volumes"] is None and body["ContainerConfig"]["Cmd"] is None


async def test_list_history_delete_and_prune() -> None:
    images, backends = _backends_with_image()
    async with serving(make_app(backends)) as client:
        listed = await client.get('/images/json?all=1&filters={"label":{"a=b":true}}')
        assert listed.status == 200
        rows = await listed.json()
        assert all(validate(row, "ImageSummary") == [] for row in rows)
        list_call = images.calls[-1]
        assert list_call == ("list", ({"label": ("a=b",)}, True))
        old = await (await client.get("/v1.41/images/json")).json()
        assert "VirtualSize" in old[0]

        history = await (await client.get("/images/me/app:1/history")).json()
        assert history[0]["Comment"] == "Imported from -"

        tagged = await client.post("/images/me/app:1/tag?repo=other&tag=2")
        assert tagged.status == 201

        pruned = await (await client.post('/images/prune?filters={"dangling":["false"]}')).json()
        assert pruned == {"ImagesDeleted": None, "SpaceReclaimed": 0}

        deleted = await client.delete("/images/me/app:1?force=1&noprune=true")
        assert await deleted.json() == [{"Untagged": "me/app:1"}, {"Deleted": IMAGE_ID}]
        remove_call = images.calls[-1]
        assert remove_call == ("remove", ("me/app:1", True, True))


# fromImage (pull) has its own tests: tests/unit/test_gateway_distribution.py.
@pytest.mark.parametrize("query", [""])
async def test_create_without_a_body_source_is_refused(query: str) -> None:
    async with serving(make_app()) as client:
        response = await client.post(f"/images/create?{query}")
        assert response.status == 400
        assert "not implemented yet" in (await response.json())["message"] or not query


async def test_import_streams_the_body() -> None:
    images, backends = _backends_with_image()
    async with serving(make_app(backends)) as client:
        response = await client.post(
            "/images/create?fromSrc=-&repo=me/new:1&changes=CMD+sh&changes=ENV+A%3D1",
            data=b"tarbytes",
        )
        assert response.status == 200
        assert await response.read() == b'{"status":"sha256:' + b"ab" * 32 + b'"}\r\n'
    options, body = images.imported[-1]
    assert body == b"tarbytes"
    assert options.repo == "me/new:1" and options.changes == ("CMD sh", "ENV A=1")

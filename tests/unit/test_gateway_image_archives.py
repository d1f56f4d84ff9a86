"""Save, load and import-from-URL routes against a fake imaged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.url_import import source_url
from services.common.errors import InvalidArgument
from services.imaged.models import ImageDetails
from tests.unit.gateway_fakes import FakeImages, fake_backends, make_app, serving

IMAGE = ImageDetails(id="sha256:" + "ab" * 32, repo_tags=("app:1",), repo_digests=(),
                     parent="", size=10, config={}, graph_driver={})


def _backends() -> tuple[Any, FakeImages]:
    backends = fake_backends()
    images = backends.images
    assert isinstance(images, FakeImages)
    images.images[IMAGE.id] = IMAGE
    images.tags["app:1"] = IMAGE.id
    return backends, images


async def test_save_streams_a_tar_for_many_names() -> None:
    backends, images = _backends()
    async with serving(make_app(backends)) as client:
        response = await client.get("/v1.47/images/get?names=app:1&names=app:1")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-tar"
        assert await response.read() == IMAGE.id.encode() * 2
        single = await client.get("/images/app:1/get")
        assert single.status == 200 and await single.read() == IMAGE.id.encode()
    assert images.calls[-1] == ("save", ["app:1"])


async def test_save_of_an_unknown_image_is_a_plain_404() -> None:
    backends, _ = _backends()
    async with serving(make_app(backends)) as client:
        response = await client.get("/images/get?names=app:1&names=nope")
        assert response.status == 404
        assert await response.json() == {"message": "No such image: nope:latest"}


async def test_load_streams_dockers_messages_and_errors_inside_the_200() -> None:
    backends, _ = _backends()
    async with serving(make_app(backends)) as client:
        good = await client.post("/v1.47/images/load?quiet=1", data=b"app:1")
        assert good.status == 200
        assert good.headers["Content-Type"] == "application/json"
        assert await good.read() == b'{"stream":"Loaded image: app:1\\n"}\r\n'
        bad = await client.post("/images/load", data=b"bad archive")
        assert bad.status == 200
        line = json.loads(await bad.read())
        assert line == {"errorDetail": {"message": "invalid tar archive: bad archive"},
                        "error": "invalid tar archive: bad archive"}


def test_import_sources() -> None:
    assert source_url("http://127.0.0.1:8000/r.tar") == "http://127.0.0.1:8000/r.tar"
    assert source_url("127.0.0.1:8000/r.tar") == "http://127.0.0.1:8000/r.tar"
    for bad in ("ftp://host/x", "file:///etc/passwd", "http://"):
        with pytest.raises(InvalidArgument):
            source_url(bad)


async def test_import_from_an_unreachable_url_is_400() -> None:
    backends, _ = _backends()
    async with serving(make_app(backends)) as client:
        response = await client.post("/images/create?fromSrc=http://127.0.0.1:1/x.tar")
        assert response.status == 400
        assert "error downloading http://127.0.0.1:1/x.tar" in (await response.json())["message"]

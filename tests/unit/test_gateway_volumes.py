"""Volume routes against a fake imaged: request parsing, Docker's JSON shapes, errors."""

from __future__ import annotations

import json
from typing import Any

from gateway.volume_views import volume_json
from services.imaged.volumes.models import ANONYMOUS_LABEL, Volume
from tests.unit.gateway_fakes import FakeVolumes, fake_backends, make_app, serving
from tests.unit.spec_schema import validate


def _backends() -> tuple[Any, FakeVolumes]:
    backends = fake_backends()
    volumes = backends.volumes
    assert isinstance(volumes, FakeVolumes)
    return backends, volumes


def test_volume_json_matches_the_spec_and_keeps_nulls() -> None:
    volume = Volume(name="data", driver="local", mountpoint="/d/volumes/data/_data",
                    created_at="2024-01-01T00:00:00Z", labels=None, options={"type": "tmpfs"})
    body = volume_json(volume)
    assert validate(body, "Volume") == []
    assert body == {"CreatedAt": "2024-01-01T00:00:00Z", "Driver": "local", "Labels": None,
                    "Mountpoint": "/d/volumes/data/_data", "Name": "data",
                    "Options": {"type": "tmpfs"}, "Scope": "local"}


async def test_create_inspect_list_remove() -> None:
    backends, volumes = _backends()
    async with serving(make_app(backends)) as client:
        created = await client.post("/v1.47/volumes/create", data=json.dumps(
            {"Name": "data", "Driver": "local", "DriverOpts": {"type": "tmpfs", "device": "tmpfs"},
             "Labels": {"a": "b"}}))
        assert created.status == 201
        body = await created.json()
        assert validate(body, "Volume") == []
        assert body["Labels"] == {"a": "b"} and body["Options"]["type"] == "tmpfs"
        spec = volumes.calls[0][1]
        assert spec.name == "data" and spec.driver_opts == {"type": "tmpfs", "device": "tmpfs"}

        inspected = await client.get("/volumes/data")
        assert inspected.status == 200 and (await inspected.json())["Name"] == "data"

        listed = await client.get('/volumes?filters={"dangling":["true"]}')
        listing = await listed.json()
        assert validate(listing, "VolumeListResponse") == []
        assert [v["Name"] for v in listing["Volumes"]] == ["data"]
        assert listing["Warnings"] is None
        assert volumes.calls[-1] == ("list", {"dangling": ("true",)})

        removed = await client.delete("/volumes/data")
        assert removed.status == 204
        assert "data" not in volumes.volumes


async def test_unknown_volume_is_404_in_dockers_words() -> None:
    backends, _ = _backends()
    async with serving(make_app(backends)) as client:
        response = await client.get("/v1.47/volumes/nope")
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/json"
        assert await response.json() == {"message": "get nope: no such volume"}
        forced = await client.delete("/volumes/nope?force=1")
        assert forced.status == 204
        plain = await client.delete("/volumes/nope")
        assert plain.status == 404


async def test_volume_in_use_is_409() -> None:
    backends, volumes = _backends()
    volumes.volumes["busy"] = Volume(name="busy", driver="local", mountpoint="/x",
                                     created_at="2024-01-01T00:00:00Z", labels=None,
                                     options=None, users=("c" * 64,))
    async with serving(make_app(backends)) as client:
        response = await client.delete("/volumes/busy")
        assert response.status == 409
        assert (await response.json())["message"] == (
            f"remove busy: volume is in use - [{'c' * 64}]")


async def test_bad_create_bodies_are_400() -> None:
    backends, _ = _backends()
    async with serving(make_app(backends)) as client:
        for body in ("[1]", "{bad json", '{"Name": 5}', '{"Labels": {"a": 1}}',
                     '{"DriverOpts": ["x"]}'):
            response = await client.post("/volumes/create", data=body)
            assert response.status == 400, body
            assert "message" in await response.json()


async def test_prune_before_1_42_includes_named_volumes() -> None:
    backends, volumes = _backends()
    volumes.volumes["anon"] = Volume(name="a" * 64, driver="local", mountpoint="/x",
                                     created_at="2024-01-01T00:00:00Z",
                                     labels={ANONYMOUS_LABEL: ""}, options=None)
    async with serving(make_app(backends)) as client:
        response = await client.post('/v1.47/volumes/prune?filters={"label":["a"]}')
        body = await response.json()
        assert response.status == 200
        assert set(body) == {"VolumesDeleted", "SpaceReclaimed"}
        assert volumes.calls[-1] == ("prune", {"label": ("a",)})
        await client.post("/v1.41/volumes/prune")
        assert volumes.calls[-1] == ("prune", {"all": ("true",)})

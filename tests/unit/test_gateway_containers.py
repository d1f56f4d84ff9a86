"""Container record routes against fakes: create, inspect, list with filters, rename, undo."""

from __future__ import annotations

import json
from typing import Any

from gateway.backends import Backends
from services.common.errors import Internal
from services.execd.models import RuntimeState, encode_state, runtime_key
from services.imaged.models import ImageDetails
from services.netd.models import Network
from tests.unit.gateway_fakes import (
    FakeImages,
    FakeNetworks,
    FakeStore,
    fake_backends,
    make_app,
    serving,
)
from tests.unit.spec_schema import validate, validate_response

IMAGE_ID = "sha256:" + "cd" * 32
OTHER_ID = "sha256:" + "ef" * 32


def backends() -> tuple[Backends, FakeStore, FakeImages]:
    store = FakeStore()
    b = fake_backends(store=store)
    images = b.images
    assert isinstance(images, FakeImages)
    for image_id, tag, config in (
        (IMAGE_ID, "busybox:latest", {"Cmd": ["sh"], "Env": ["PATH=/bin", "A=image"],
                                      "Labels": {"from": "image"}, "WorkingDir": "/w"}),
        (OTHER_ID, "other:1", {"Entrypoint": ["/entry"], "Cmd": ["--flag"]}),
    ):
        images.images[image_id] = ImageDetails(
            id=image_id, repo_tags=(tag,), repo_digests=(), parent="", size=1000,
            config={"config": config}, graph_driver={"UpperDir": "/layers/top/diff",
                                                     "LowerDir": "/layers/bottom/diff"})
        images.tags[tag] = image_id
    networks = b.networks
    assert isinstance(networks, FakeNetworks)
    networks.networks["n" * 64] = Network(id="n" * 64, name="backend", driver="bridge",
                                          created="2024-01-01T00:00:00Z")
    return b, store, images


async def post(client: Any, body: dict[str, Any], name: str = "", version: str = "v1.47") -> Any:
    query = f"?name={name}" if name else ""
    return await client.post(f"/{version}/containers/create{query}", data=json.dumps(body),
                             headers={"Content-Type": "application/json"})


async def test_create_then_inspect_shows_the_merged_config() -> None:
    b, _, images = backends()
    async with serving(make_app(b)) as client:
        response = await post(client, {"Image": "busybox", "Cmd": ["echo", "hi"],
                                       "Env": ["A=mine"], "Labels": {"mine": "1"}}, "web")
        assert response.status == 201
        created = await response.json()
        assert validate(created, "ContainerCreateResponse") == []
        assert created["Warnings"] == []
        container_id = created["Id"]
        inspect = await client.get("/containers/web/json")
        body = await inspect.json()
    assert validate_response(body, "/containers/{id}/json") == []
    assert body["Id"] == container_id and body["Name"] == "/web"
    assert body["Path"] == "echo" and body["Args"] == ["hi"]
    assert body["State"]["Status"] == "created" and body["Image"] == IMAGE_ID
    config = body["Config"]
    assert config["Env"] == ["A=mine", "PATH=/bin"]
    assert config["Labels"] == {"from": "image", "mine": "1"}
    assert config["WorkingDir"] == "/w" and config["Hostname"] == container_id[:12]
    assert config["Image"] == "busybox"
    host = body["HostConfig"]
    assert host["NetworkMode"] == "bridge" and host["ShmSize"] == 64 * 1024 * 1024
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert body["GraphDriver"]["Data"]["LowerDir"] == "/layers/top/diff:/layers/bottom/diff"
    assert body["GraphDriver"]["Data"]["MergedDir"].endswith(f"{container_id}/merged")
    assert list(body["NetworkSettings"]["Networks"]) == ["bridge"]
    assert images.snapshots == {container_id: IMAGE_ID}


async def test_entrypoint_and_generated_name() -> None:
    b, _, _ = backends()
    async with serving(make_app(b)) as client:
        created = await (await post(client, {"Image": "other:1"})).json()
        body = await (await client.get(f"/containers/{created['Id'][:10]}/json")).json()
    assert body["Path"] == "/entry" and body["Args"] == ["--flag"]
    assert body["Name"].count("_") == 1 and body["Name"].startswith("/")


async def test_name_conflict_is_409_with_dockers_message_and_leaves_nothing() -> None:
    b, store, images = backends()
    async with serving(make_app(b)) as client:
        first = await (await post(client, {"Image": "busybox"}, "web")).json()
        again = await post(client, {"Image": "busybox"}, "web")
        assert again.status == 409
        assert (await again.json())["message"] == (
            f'Conflict. The container name "/web" is already in use by container '
            f'"{first["Id"]}". You have to remove (or rename) that container to be able to '
            "reuse that name."
        )
    assert list(images.snapshots) == [first["Id"]]
    assert len([k for k in store.values if k.startswith("containers/")]) == 1


async def test_bad_input_is_400_or_404_and_nothing_is_made() -> None:
    b, store, images = backends()
    cases: list[tuple[dict[str, Any], str, int, str]] = [
        ({"Image": "busybox", "HostConfig": {"Memory": -1}}, "", 400,
         "Minimum memory limit allowed is 6MB"),
        ({"Image": "busybox"}, "bad%20name", 400,
         "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        ({"Image": "nope"}, "", 404, "No such image: nope:latest"),
        ({"Image": "busybox", "HostConfig": {"NetworkMode": "missing"}}, "", 404,
         "network missing not found"),
        ({"Image": "busybox", "HostConfig": {"Mounts": [
            {"Type": "bind", "Source": "/no/such/dir", "Target": "/x"}]}}, "", 400,
         'invalid mount config for type "bind": bind source path does not exist: /no/such/dir'),
        ({"Image": "busybox", "WorkingDir": "rel"}, "", 400,
         "the working directory 'rel' is invalid, it needs to be an absolute path"),
        ({"Image": "busybox", "HostConfig": {"LogConfig": {"Type": "splunk"}}}, "", 400,
         "failed to get logging factory: logger: no log driver named 'splunk' is registered"),
        ({"Image": "busybox", "HostConfig": {"LogConfig": {
            "Type": "json-file", "Config": {"max-size": "1m", "colour": "red"}}}}, "", 400,
         "unknown log opt 'colour' for json-file log driver"),
        ({"Image": "busybox", "HostConfig": {"LogConfig": {
            "Type": "local", "Config": {"tag": "x"}}}}, "", 400,
         "unknown log opt 'tag' for local log driver"),
        ({"Image": "busybox", "HostConfig": {"LogConfig": {
            "Type": "json-file", "Config": {"mode": "sometimes"}}}}, "", 400,
         "logger: logging mode not supported: sometimes"),
        ({"Image": "busybox", "HostConfig": {"LogConfig": {
            "Type": "json-file", "Config": {"max-buffer-size": "4m"}}}}, "", 400,
         "logger: max-buffer-size option is only supported with 'mode=non-blocking'"),
        ({"Image": "busybox", "Cmd": [], "Entrypoint": [""]}, "", 400,
         "No command specified"),
    ]
    async with serving(make_app(b)) as client:
        for body, name, status, message in cases:
            response = await post(client, body, name)
            assert response.status == status, body
            assert (await response.json()) == {"message": message}
        not_json = await client.post("/containers/create", data="{")
        assert not_json.status == 400
    assert images.snapshots == {}
    assert not [k for k in store.values if k.startswith(("containers/", "container-names/"))]


async def test_a_failed_snapshot_leaves_no_record_or_name() -> None:
    b, store, images = backends()

    async def broken(container_id: str, image: str) -> Any:
        raise Internal("mounting the container filesystem failed: no space left on device")

    images.prepare_snapshot = broken  # type: ignore[method-assign]
    async with serving(make_app(b)) as client:
        response = await post(client, {"Image": "busybox"}, "web")
        assert response.status == 500
    assert not [k for k in store.values if k.startswith(("containers/", "container-names/"))]


async def test_api_versions_before_1_44_keep_network_mode_default() -> None:
    b, _, _ = backends()
    async with serving(make_app(b)) as client:
        created = await (await post(client, {"Image": "busybox"}, "old", "v1.41")).json()
        body = await (await client.get(f"/containers/{created['Id']}/json")).json()
    assert body["HostConfig"]["NetworkMode"] == "default"
    assert list(body["NetworkSettings"]["Networks"]) == ["bridge"]


async def test_inspect_unknown_is_404_and_ambiguous_prefix_400() -> None:
    b, _, _ = backends()
    async with serving(make_app(b)) as client:
        missing = await client.get("/containers/nothing/json")
        assert missing.status == 404
        assert (await missing.json()) == {"message": "No such container: nothing"}
        ids = [(await (await post(client, {"Image": "busybox"})).json())["Id"] for _ in range(20)]
        common = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
        ambiguous = await client.get(f"/containers/{common}/json")
        assert ambiguous.status == 400
        assert (await ambiguous.json()) == {
            "message": f"multiple IDs found with provided prefix: {common}"}


async def test_list_filters_and_status() -> None:
    b, store, _ = backends()
    async with serving(make_app(b)) as client:
        web = (await (await post(client, {"Image": "busybox", "Labels": {"tier": "front"}},
                                 "web")).json())["Id"]
        db = (await (await post(client, {"Image": "other:1"}, "db",)).json())["Id"]
        await post(client, {"Image": "busybox", "HostConfig": {"NetworkMode": "backend"}},
                   "worker")
        store.values[runtime_key(db)] = encode_state(RuntimeState(
            db, status="exited", exit_code=3, started_at="2024-01-01T00:00:00Z",
            finished_at="2024-01-01T00:00:01Z"))

        async def names(query: str) -> list[str]:
            response = await client.get(f"/containers/json?{query}")
            assert response.status == 200, await response.text()
            rows = await response.json()
            for row in rows:
                assert validate(row, "ContainerSummary") == []
            return [row["Names"][0] for row in rows]

        assert await names("") == []  # none running
        assert await names("all=1") == ["/worker", "/db", "/web"]
        assert await names("limit=1") == ["/worker"]
        assert await names('filters={"status":["created"]}') == ["/worker", "/web"]
        assert await names('all=1&filters={"status":["exited"]}') == ["/db"]
        assert await names('all=1&filters={"exited":["3"]}') == ["/db"]
        assert await names('all=1&filters={"name":["^/w"]}') == ["/worker", "/web"]
        assert await names('all=1&filters={"name":["web"]}') == ["/web"]
        assert await names(f'all=1&filters={{"id":["{web[:8]}"]}}') == ["/web"]
        assert await names('all=1&filters={"label":["tier=front"]}') == ["/web"]
        assert await names('all=1&filters={"label":["tier=back"]}') == []
        assert await names('all=1&filters={"ancestor":["busybox"]}') == ["/worker", "/web"]
        assert await names('all=1&filters={"ancestor":["nope"]}') == []
        assert await names('all=1&filters={"network":["backend"]}') == ["/worker"]
        assert await names('all=1&filters={"before":["db"]}') == ["/web"]
        assert await names('all=1&filters={"since":["web"]}') == ["/worker", "/db"]
        assert await names('all=1&filters={"health":["none"]}') == ["/worker", "/db", "/web"]
        rows = await (await client.get("/containers/json?all=1")).json()
        by_name = {r["Names"][0]: r for r in rows}
        assert by_name["/web"]["Status"] == "Created" and by_name["/web"]["State"] == "created"
        assert by_name["/db"]["Status"].startswith("Exited (3) ")
        assert by_name["/db"]["Command"] == "/entry --flag"
        assert by_name["/web"]["Image"] == "busybox"
        for query, message in (('filters={"colour":["red"]}', "invalid filter 'colour'"),
                               ('filters={"status":["sleepy"]}', "invalid filter 'status=sleepy'"),
                               ('filters={"before":["ghost"]}', "No such container: ghost")):
            response = await client.get(f"/containers/json?{query}")
            assert response.status in (400, 404)
            assert (await response.json()) == {"message": message}


async def test_image_column_shows_the_id_after_the_tag_moved() -> None:
    b, _, images = backends()
    async with serving(make_app(b)) as client:
        await post(client, {"Image": "busybox"}, "web")
        images.tags["busybox:latest"] = OTHER_ID
        images.images[IMAGE_ID] = images.images[IMAGE_ID].__class__(
            **{**images.images[IMAGE_ID].__dict__, "repo_tags": ()})
        rows = await (await client.get("/containers/json?all=1")).json()
    assert rows[0]["Image"] == IMAGE_ID


async def test_rename() -> None:
    b, _, _ = backends()
    async with serving(make_app(b)) as client:
        await post(client, {"Image": "busybox"}, "old")
        await post(client, {"Image": "busybox"}, "taken")
        response = await client.post("/containers/old/rename?name=new")
        assert response.status == 204
        assert (await (await client.get("/containers/new/json")).json())["Name"] == "/new"
        assert (await client.get("/containers/old/json")).status == 404
        conflict = await client.post("/containers/new/rename?name=taken")
        assert conflict.status == 409
        assert (await conflict.json())["message"].startswith(
            'Error when allocating new name: Conflict. The container name "/taken" is already')
        same = await client.post("/containers/new/rename?name=new")
        assert same.status == 400
        missing = await client.post("/containers/ghost/rename?name=x1")
        assert missing.status == 404

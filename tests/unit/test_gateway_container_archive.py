"""cp/export/diff/commit routes against a fake imaged: query parsing, headers, statuses."""

from __future__ import annotations

import base64
import json

from services.imaged.models import CommitOptions
from tests.unit.gateway_fakes import make_app, serving
from tests.unit.spec_schema import validate_response
from tests.unit.test_gateway_containers import backends, post


async def test_archive_routes_stat_read_write_and_refuse_bad_input() -> None:
    b, _, images = backends()
    async with serving(make_app(b)) as client:
        created = await post(client, {"Image": "busybox", "User": "7:8"}, "files")
        container_id = (await created.json())["Id"]
        unchanged = await client.get("/containers/files/changes")
        assert await unchanged.read() == b"null\n"  # dockerd's nil slice, not []
        put = await client.put("/containers/files/archive?path=/tmp/f&copyUIDGID=1"
                               "&noOverwriteDirNonDir=true", data=b"content")
        assert put.status == 200
        assert images.calls[-1] == ("write_archive", (container_id, "/tmp/f", True, "7:8"))

        head = await client.head("/containers/files/archive?path=/tmp/f")
        assert head.status == 200
        stat = json.loads(base64.b64decode(head.headers["X-Docker-Container-Path-Stat"]))
        assert list(stat) == ["name", "size", "mode", "mtime", "linkTarget"]
        assert (stat["name"], stat["size"]) == ("f", 7)

        get = await client.get("/containers/files/archive?path=/tmp/f")
        assert get.status == 200 and get.headers["Content-Type"] == "application/x-tar"
        assert "X-Docker-Container-Path-Stat" in get.headers
        assert await get.read() == b"content"

        missing = await client.get("/containers/files/archive?path=/nope")
        assert missing.status == 404
        assert (await missing.json())["message"] == \
            "Could not find the file /nope in container files"
        assert (await client.head("/containers/files/archive?path=/nope")).status == 404
        empty = await client.get("/containers/files/archive")
        assert empty.status == 400 and "path cannot be empty" in (await empty.json())["message"]
        assert (await client.get("/containers/nope/archive?path=/")).status == 404

        changes = await client.get("/containers/files/changes")
        body = await changes.json()
        assert body == [{"Path": "/tmp/f", "Kind": 1}]
        assert validate_response(body, "/containers/{id}/changes") == []
        export = await client.get("/containers/files/export")
        assert export.status == 200 and await export.read() == b"content"


async def test_commit_passes_the_containers_config_and_the_query() -> None:
    b, _, images = backends()
    async with serving(make_app(b)) as client:
        created = await post(client, {"Image": "busybox", "Cmd": ["true"]}, "src")
        container_id = (await created.json())["Id"]
        response = await client.post(
            "/commit?container=src&repo=new&tag=1&comment=c&author=a&pause=0"
            "&changes=CMD%20%5B%22echo%22%5D")
        assert response.status == 201
        assert await response.json() == {"Id": "sha256:" + "c" * 64}
        assert validate_response(await response.json(), "/commit", "post", 201) == []
        request = images.calls[-1][1]
        assert isinstance(request, CommitOptions)
        assert (request.container_id, request.repo, request.tag, request.comment,
                request.author, request.changes) == (container_id, "new", "1", "c", "a",
                                                     ('CMD ["echo"]',))
        assert request.config["Cmd"] == ["true"]
        assert (await client.post("/commit")).status == 400
        assert (await client.post("/commit?container=nope")).status == 404

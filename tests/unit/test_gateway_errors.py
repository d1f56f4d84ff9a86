"""One middleware turns error kinds into dockerd's statuses and body shape."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.errors import status_for
from services.common import errors
from tests.unit.gateway_fakes import make_app, serving

KINDS: dict[str, type[Exception]] = {
    "notfound": errors.NotFound,
    "conflict": errors.Conflict,
    "invalid": errors.InvalidArgument,
    "forbidden": errors.Forbidden,
    "unauthorized": errors.Unauthorized,
    "unavailable": errors.Unavailable,
    "internal": errors.Internal,
    "notmodified": errors.NotModified,
    "bug": ZeroDivisionError,
}


async def _raise(request: web.Request) -> web.Response:
    raise KINDS[request.match_info["kind"]]("no such container: web")


def _app() -> web.Application:
    app = make_app()
    app.router.add_get("/raise/{kind}", _raise)
    return app


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("notfound", 404),
        ("conflict", 409),
        ("invalid", 400),
        ("forbidden", 403),
        ("unauthorized", 401),
        ("unavailable", 503),
        ("internal", 500),
    ],
)
async def test_kind_maps_to_status_and_json_body(kind: str, status: int) -> None:
    async with serving(_app()) as client:
        response = await client.get(f"/raise/{kind}")
        assert response.status == status
        # Exactly this: some clients compare the header literally.
        assert response.headers["Content-Type"] == "application/json"
        assert await response.read() == b'{"message":"no such container: web"}\n'


async def test_not_modified_has_no_body() -> None:
    async with serving(_app()) as client:
        response = await client.get("/raise/notmodified")
        assert response.status == 304
        assert await response.read() == b""


async def test_unexpected_exception_is_500_json_and_server_keeps_serving() -> None:
    async with serving(_app()) as client:
        response = await client.get("/raise/bug")
        assert response.status == 500
        assert response.headers["Content-Type"] == "application/json"
        assert "no such container: web" in (await response.json())["message"]
        assert (await client.get("/_ping")).status == 200


def test_subclass_keeps_parent_status() -> None:
    class NoSuchImage(errors.NotFound):
        pass

    assert status_for(NoSuchImage("x")) == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no/such/route"),
        ("GET", "/v1.47/no/such/route"),
        ("POST", "/_ping"),  # known path, wrong method: moby answers page not found too
        ("DELETE", "/v1.47/info"),
        ("HEAD", "/version"),  # no implicit HEAD: dockerd routes HEAD only for /_ping
    ],
)
async def test_unknown_routes_are_page_not_found(method: str, path: str) -> None:
    async with serving(_app()) as client:
        response = await client.request(method, path)
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Api-Version"] == "1.47"
        if method != "HEAD":
            assert await response.json() == {"message": "page not found"}

"""API version negotiation: the optional /v1.xx prefix, its bounds and dockerd's wording."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.versioning import (
    API_VERSION,
    MIN_API_VERSION,
    check_version,
    compare,
    request_version,
)
from services.common.errors import InvalidArgument
from tests.unit.gateway_fakes import make_app, serving

TOO_OLD = (
    "client version 1.23 is too old. Minimum supported API version is 1.24, "
    "please upgrade your client to a newer version"
)
TOO_NEW = "client version 1.48 is too new. Maximum supported API version is 1.47"


def test_bounds_are_dockerd_27s() -> None:
    assert (API_VERSION, MIN_API_VERSION) == ("1.47", "1.24")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.24", "1.24", 0),
        ("1.4", "1.24", -1),  # numeric parts, not strings
        ("1.100", "1.47", 1),
        ("1.47.0", "1.47", 0),
        ("2", "1.47", 1),
        ("1..5", "1.0", 1),  # a malformed part counts as 0, like moby
    ],
)
def test_compare(a: str, b: str, expected: int) -> None:
    assert compare(a, b) == expected


def test_check_version_wording() -> None:
    assert check_version("1.30") == "1.30"
    with pytest.raises(InvalidArgument) as old:
        check_version("1.23")
    assert old.value.message == TOO_OLD
    with pytest.raises(InvalidArgument) as new:
        check_version("1.48")
    assert new.value.message == TOO_NEW


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.40", "/v1.47"])
async def test_accepted_versions(prefix: str) -> None:
    async with serving(make_app()) as client:
        response = await client.get(f"{prefix}/_ping")
        assert response.status == 200
        assert await response.text() == "OK"


async def test_too_old_is_400_in_plain_text_like_dockerd() -> None:
    # dockerd answers clients older than 1.24 with http.Error: they predate JSON errors.
    async with serving(make_app()) as client:
        response = await client.get("/v1.23/version")
        assert response.status == 400
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert await response.text() == TOO_OLD + "\n"


async def test_too_new_is_400_json() -> None:
    async with serving(make_app()) as client:
        response = await client.get("/v1.48/version")
        assert response.status == 400
        assert response.headers["Content-Type"] == "application/json"
        assert await response.json() == {"message": TOO_NEW}
        response = await client.get("/v1.99/info")
        assert (await response.json())["message"].startswith("client version 1.99 is too new.")


async def test_unknown_path_under_bad_version_is_page_not_found() -> None:
    # moby's catch-all route answers unknown paths before any version check.
    async with serving(make_app()) as client:
        response = await client.get("/v1.99/no/such/thing")
        assert response.status == 404
        assert await response.json() == {"message": "page not found"}


async def test_non_numeric_prefix_is_just_an_unknown_path() -> None:
    async with serving(make_app()) as client:
        response = await client.get("/vlatest/_ping")
        assert response.status == 404


async def test_handlers_see_the_negotiated_version() -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request_version(request))

    app = make_app()
    app.router.add_get("/echo", echo)
    app.router.add_get("/v{version:[0-9.]+}/echo", echo)
    async with serving(app) as client:
        assert await (await client.get("/v1.30/echo")).text() == "1.30"
        assert await (await client.get("/echo")).text() == API_VERSION

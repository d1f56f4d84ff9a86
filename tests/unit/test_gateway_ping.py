"""/_ping and the headers dockerd puts on every response."""

from __future__ import annotations

from tests.unit.gateway_fakes import fake_backends, make_app, serving

PING_HEADERS = {
    "Api-Version": "1.47",
    "Builder-Version": "1",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Pragma": "no-cache",
    "Swarm": "inactive",
    "Content-Type": "text/plain; charset=utf-8",
}


async def test_get_ping() -> None:
    async with serving(make_app()) as client:
        response = await client.get("/_ping")
        assert response.status == 200
        assert await response.read() == b"OK"
        for name, value in PING_HEADERS.items():
            assert response.headers[name] == value, name
        assert response.headers["Content-Length"] == "2"
        assert response.headers["Server"].startswith("Dockyard/")
        assert response.headers["Server"].endswith(" (linux)")


async def test_head_ping_has_the_same_headers_and_no_body() -> None:
    async with serving(make_app()) as client:
        response = await client.head("/v1.47/_ping")
        assert response.status == 200
        for name, value in PING_HEADERS.items():
            assert response.headers[name] == value, name
        assert response.headers["Content-Length"] == "0"
        assert await response.read() == b""


async def test_ping_needs_no_service() -> None:
    backends = fake_backends(down=("etcd", "imaged", "netd", "cgroupd", "execd"))
    async with serving(make_app(backends)) as client:
        assert (await client.get("/_ping")).status == 200


async def test_every_response_carries_the_common_headers() -> None:
    async with serving(make_app()) as client:
        for path in ("/version", "/info", "/v1.48/info", "/nope"):
            response = await client.get(path)
            assert response.headers["Api-Version"] == "1.47", path
            assert response.headers["Docker-Experimental"] == "false", path
            assert response.headers["Ostype"] == "linux", path
            assert response.headers["Server"].startswith("Dockyard/"), path

"""``docker search`` with the stock CLI against registries on 127.0.0.1.

The success path needs a registry with the v1 search API, which Debian's
docker-registry lacks: a small aiohttp server in this test serves
``/v1/_ping`` and ``/v1/search`` and records what dockerd-compatible engines
send it. Debian's registry gives the error path (no ``/v1/search``: 404).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.api_capture import ResponseRecorder
from tests.support.cluster import Cluster
from tests.support.etcd import free_port
from tests.support.registry import Registry

pytestmark = pytest.mark.root

REFRESH_TOKEN = "refresh-me"
LONG_DESCRIPTION = "A busybox build with every applet, made for tests of docker search"
REPOSITORIES = [
    {"name": "library/busybox", "description": "Busybox base image.", "star_count": 3400,
     "is_official": True, "is_automated": True},
    {"name": "someone/busybox", "description": LONG_DESCRIPTION, "star_count": 3,
     "is_official": False, "is_automated": False},
    {"name": "other/busybox-tools", "description": "", "star_count": 2,
     "is_official": False, "is_automated": False},
]


@dataclass
class SearchIndex:
    """A v1 search endpoint on 127.0.0.1 and the requests it received."""

    host: str = ""
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)

    def searches(self) -> list[tuple[dict[str, str], dict[str, str]]]:
        return [(query, headers) for path, query, headers in self.requests
                if path == "/v1/search"]


async def _handle(index: SearchIndex, request: web.Request) -> web.Response:
    form = {k: str(v) for k, v in (await request.post()).items()}
    index.requests.append((request.path, {**request.query, **form}, dict(request.headers)))
    if request.path == "/v1/_ping":
        return web.json_response(True)
    if request.path == "/v2/":
        challenge = f'Bearer realm="http://{index.host}/token",service="search-test"'
        return web.Response(status=401, headers={"WWW-Authenticate": challenge})
    if request.path == "/token":
        if form.get("refresh_token") != REFRESH_TOKEN:
            return web.Response(status=401)
        return web.json_response({"access_token": f"granted:{form.get('scope')}"})
    if request.path != "/v1/search":
        return web.Response(status=404)
    term = request.query.get("q", "")
    found = [r for r in REPOSITORIES if term in str(r["name"])]
    limited = found[: int(request.query.get("n", "25"))]
    return web.json_response({"num_results": len(limited), "query": term,
                              "results": limited})


@pytest.fixture(scope="module")
def search_index() -> Iterator[SearchIndex]:
    index = SearchIndex()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def handler(request: web.Request) -> web.Response:
        return await _handle(index, request)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    app.router.add_route("POST", "/token", handler)
    runner = web.AppRunner(app)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        port = free_port()
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        index.host = f"127.0.0.1:{port}"
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield index
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(autouse=True)
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "docker-config"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    return config


def test_search_with_limit_filter_format_and_no_trunc(cluster: Cluster,
                                                      search_index: SearchIndex) -> None:
    before = len(search_index.searches())
    result = cluster.docker(
        "search", f"{search_index.host}/bus", "--limit", "5", "--filter", "stars=3",
        "--no-trunc", "--format", "{{.Name}}|{{.StarCount}}|{{.IsOfficial}}|{{.Description}}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "library/busybox|3400|[OK]|Busybox base image.",
        f"someone/busybox|3||{LONG_DESCRIPTION}",
    ]
    searches = search_index.searches()[before:]
    assert len(searches) == 1
    query, headers = searches[0]
    assert query == {"q": "bus", "n": "5"}
    assert headers.get("X-Docker-Token") == "true"
    assert "Authorization" not in headers


def test_search_table_truncates_and_never_shows_automated(
    cluster: Cluster, search_index: SearchIndex, answers_match_the_spec: ResponseRecorder
) -> None:
    result = cluster.docker("search", f"{search_index.host}/busybox")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert [line.split()[0] for line in lines[1:]] == [
        "library/busybox", "someone/busybox", "other/busybox-tools"]
    assert LONG_DESCRIPTION not in result.stdout
    assert LONG_DESCRIPTION[:40] in result.stdout
    assert search_index.searches()[-1][0] == {"q": "busybox", "n": "25"}
    api = cluster.client().api.search(f"{search_index.host}/busybox", limit=2)
    assert api == [
        {"star_count": 3400, "is_official": True, "name": "library/busybox",
         "is_automated": False, "description": "Busybox base image."},
        {"star_count": 3, "is_official": False, "name": "someone/busybox",
         "is_automated": False, "description": LONG_DESCRIPTION},
    ]
    # tests/e2e/conftest.py checks each recorded answer against the spec.
    assert "GET /images/search -> 200" in answers_match_the_spec.operations()


def test_official_and_automated_filters(cluster: Cluster, search_index: SearchIndex) -> None:
    fmt = ("--format", "{{.Name}}")
    official = cluster.docker("search", "-f", "is-official=true", *fmt,
                              f"{search_index.host}/busybox")
    assert official.stdout.splitlines() == ["library/busybox"], official.stderr
    others = cluster.docker("search", "-f", "is-official=false", "-f", "stars=1", *fmt,
                            f"{search_index.host}/busybox")
    assert others.stdout.splitlines() == ["someone/busybox", "other/busybox-tools"]
    before = len(search_index.searches())
    automated = cluster.docker("search", "-f", "is-automated=true", *fmt,
                               f"{search_index.host}/busybox")
    assert automated.returncode == 0 and automated.stdout == ""
    assert len(search_index.searches()) == before  # nothing can match: nobody is asked


def test_credentials_of_the_index_are_sent(cluster: Cluster, search_index: SearchIndex,
                                           docker_config: Path) -> None:
    token = base64.b64encode(b"searcher:s3cret").decode()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {search_index.host: {"auth": token}}}))
    result = cluster.docker("search", "--format", "{{.Name}}", f"{search_index.host}/tools")
    assert result.stdout.splitlines() == ["other/busybox-tools"], result.stderr
    assert search_index.searches()[-1][1].get("Authorization") == f"Basic {token}"


def test_an_identity_token_earns_a_search_scoped_bearer_token(
    cluster: Cluster, search_index: SearchIndex, docker_config: Path
) -> None:
    user = base64.b64encode(b"searcher:").decode()
    (docker_config / "config.json").write_text(json.dumps(
        {"auths": {search_index.host: {"auth": user, "identitytoken": REFRESH_TOKEN}}}))
    before = len(search_index.requests)
    result = cluster.docker("search", "--format", "{{.Name}}", f"{search_index.host}/tools")
    assert result.stdout.splitlines() == ["other/busybox-tools"], result.stderr
    asked = search_index.requests[before:]
    token_requests = [query for path, query, _ in asked if path == "/token"]
    assert token_requests and token_requests[0]["grant_type"] == "refresh_token"
    assert token_requests[0]["scope"] == "registry:catalog:search"
    assert search_index.searches()[-1][1].get("Authorization") == \
        "Bearer granted:registry:catalog:search"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--filter", "color=red"), "invalid filter 'color'"),
        (("--filter", "stars=many"),
         "invalid filter 'stars=many': strconv.Atoi: parsing \"many\": invalid syntax"),
        (("--filter", "is-official=yes"), "invalid filter 'is-official=yes'"),
        (("--limit", "101"), "limit 101 is outside the range of [1, 100]"),
    ],
)
def test_bad_filters_and_limits_are_refused_before_any_request(
    cluster: Cluster, search_index: SearchIndex, args: tuple[str, ...], message: str
) -> None:
    before = len(search_index.requests)
    result = cluster.docker("search", *args, f"{search_index.host}/busybox")
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error response from daemon: {message}"
    assert len(search_index.requests) == before


def test_a_registry_without_v1_search_fails_as_dockerd_does(cluster: Cluster,
                                                            registry: Registry) -> None:
    result = cluster.docker("search", registry.name("busybox"))
    assert result.returncode == 1
    assert result.stderr.strip() == "Error response from daemon: Unexpected status code 404"
    response = cluster.client().api.get(
        cluster.client().api._url("/images/search"),
        params={"term": registry.name("busybox")})
    assert response.status_code == 500
    assert response.json() == {"message": "Unexpected status code 404"}


def test_an_unreachable_registry_is_named_with_both_attempts(cluster: Cluster) -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = cluster.docker("search", f"{host}/busybox")
    assert result.returncode == 1
    refused = f"dial tcp {host}: connect: connection refused"
    assert result.stderr.strip() == (
        f'Error response from daemon: invalid registry endpoint "http://{host}/v1/". '
        f'HTTPS attempt: Get "https://{host}/v1/_ping": {refused}. '
        f'HTTP attempt: Get "http://{host}/v1/_ping": {refused}')

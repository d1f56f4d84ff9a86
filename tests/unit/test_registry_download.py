"""Blob downloads against a real HTTP server on loopback that drops connections.

A dropped transfer resumes with ``Range: bytes=N-`` (and restarts when the
server ignores the range); a blob that hashes wrong is refused at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.common.errors import InvalidArgument
from services.imaged.registry.api import Repository, connect, open_http
from services.imaged.registry.download import download_blob
from services.imaged.registry.endpoints import Endpoint
from services.imaged.registry.manifests import DOCKER_LAYER, Descriptor
from services.imaged.registry.models import RegistryAuth
from services.imaged.registry.progress import Progress
from services.imaged.registry.settings import RegistrySettings

BLOB = bytes(range(256)) * 4096  # 1 MiB
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
SETTINGS = RegistrySettings(retry_delay=0.01)


class FlakyRegistry:
    def __init__(self, *, honour_range: bool = True, cut_after: int = 300_000,
                 body: bytes = BLOB) -> None:
        self.honour_range = honour_range
        self.cut_after = cut_after
        self.body = body
        self.ranges: list[str] = []

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def blob(self, request: web.Request) -> web.StreamResponse:
        requested = request.headers.get("Range", "")
        self.ranges.append(requested)
        start = int(requested[6:-1]) if requested and self.honour_range else 0
        response = web.StreamResponse(status=206 if start else 200)
        response.content_length = len(self.body) - start
        await response.prepare(request)
        if len(self.ranges) == 1 and self.cut_after:
            await response.write(self.body[: self.cut_after])
            assert request.transport is not None
            request.transport.abort()  # the connection drops mid-blob
            return response
        await response.write(self.body[start:])
        await response.write_eof()
        return response


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[TestServer, FlakyRegistry]]:
    registry: FlakyRegistry = request.param
    app = web.Application()
    app.router.add_get("/v2/", registry.ping)
    app.router.add_get("/v2/repo/blobs/{digest}", registry.blob)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server, registry
    await test_server.close()


async def _download(test_server: TestServer, dest: Path, digest: str = DIGEST) -> None:
    async with open_http() as http:
        endpoint = Endpoint(f"http://127.0.0.1:{test_server.port}")
        repository = Repository(await connect(http, endpoint, RegistryAuth()), "repo")
        blob = Descriptor(DOCKER_LAYER, digest, len(BLOB))
        await download_blob(repository, blob, dest, Progress(), SETTINGS, "abc")


@pytest.mark.parametrize("server", [FlakyRegistry()], indirect=True)
async def test_a_dropped_download_resumes_with_a_range(
    server: tuple[TestServer, FlakyRegistry], tmp_path: Path
) -> None:
    test_server, registry = server
    await _download(test_server, tmp_path / "blob")
    assert (tmp_path / "blob").read_bytes() == BLOB
    assert registry.ranges[0] == ""
    assert registry.ranges[1].startswith("bytes=") and registry.ranges[1] != "bytes=0-"


@pytest.mark.parametrize("server", [FlakyRegistry(honour_range=False)], indirect=True)
async def test_a_server_ignoring_the_range_restarts_the_blob(
    server: tuple[TestServer, FlakyRegistry], tmp_path: Path
) -> None:
    test_server, registry = server
    await _download(test_server, tmp_path / "blob")
    assert (tmp_path / "blob").read_bytes() == BLOB
    assert len(registry.ranges) == 2


@pytest.mark.parametrize("server", [FlakyRegistry(cut_after=0, body=bytes(len(BLOB)))],
                         indirect=True)
async def test_wrong_content_is_refused_without_retrying(
    server: tuple[TestServer, FlakyRegistry], tmp_path: Path
) -> None:
    test_server, registry = server
    with pytest.raises(InvalidArgument, match=f"verification failed for digest {DIGEST}"):
        await _download(test_server, tmp_path / "blob")
    assert len(registry.ranges) == 1

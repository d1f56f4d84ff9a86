"""HTTP calls of the Registry API v2 on one repository of one endpoint.

:func:`connect` pings ``/v2/`` (learning the auth challenge; a failure to
connect at all is :class:`RegistryUnreachable`, so the caller may try the next
endpoint); :class:`Repository` sends each call with the Authorization its
scopes need and turns error answers into typed errors
(:func:`~services.imaged.registry.errors.response_error`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import aiohttp

from services.common.errors import DockyardError, InvalidArgument
from services.imaged.registry.auth import Authenticator, NoCredentials, go_op
from services.imaged.registry.endpoints import Endpoint
from services.imaged.registry.errors import RegistryUnreachable, response_error
from services.imaged.registry.manifests import ACCEPTED_MANIFEST_TYPES
from services.imaged.registry.models import RegistryAuth

USER_AGENT = "docker/28.2.2 (dockyard)"
CONNECT_SECONDS = 30.0
READ_SECONDS = 120.0
MAX_MANIFEST_BYTES = 4 << 20
"""Manifests and configs are small; a larger answer is refused, not read into memory."""
MAX_CONFIG_BYTES = 16 << 20


def open_http() -> aiohttp.ClientSession:
    """One HTTP session per operation: pooled connections, no total deadline."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS,
                                      sock_read=READ_SECONDS),
        headers={"User-Agent": USER_AGENT},
        auto_decompress=False,
        connector=aiohttp.TCPConnector(limit=0),
    )


def describe_failure(method: str, url: str, exc: BaseException) -> str:
    """A connection failure in Go's words (``Get "http://…/v2/": dial tcp …``)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        reason = error.strerror or str(error)
        if reason.startswith("Connect call failed") and error.errno:
            # asyncio's words for a refused or unreachable peer; Go names the errno.
            reason = os.strerror(error.errno)
        reason = reason.lower()
        return f'{go_op(method)} "{url}": dial tcp {exc.host}:{exc.port}: connect: {reason}'
    return f'{go_op(method)} "{url}": {exc or type(exc).__name__}'


@dataclass
class Connection:
    """A pinged endpoint with the credentials of the operation."""

    http: aiohttp.ClientSession
    endpoint: Endpoint
    auth: Authenticator

    @property
    def ssl(self) -> bool:
        """Whether to verify TLS (meaningless, and ignored, for http:// endpoints)."""
        return self.endpoint.verify_tls

    def absolute(self, location: str) -> str:
        return urljoin(self.endpoint.url + "/", location)


async def connect(http: aiohttp.ClientSession, endpoint: Endpoint,
                  credentials: RegistryAuth) -> Connection:
    ssl = endpoint.verify_tls
    auth = Authenticator(http, credentials, ssl)
    url = f"{endpoint.url}/v2/"
    try:
        async with http.get(url, ssl=ssl) as response:
            await response.read()
            if response.status == 401:
                auth.learn(response.headers.getall("WWW-Authenticate", []))
    except aiohttp.ClientError as exc:
        raise RegistryUnreachable(describe_failure("GET", url, exc)) from None
    except TimeoutError:
        raise RegistryUnreachable(f'Get "{url}": timeout') from None
    return Connection(http, endpoint, auth)


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True)
class FetchedManifest:
    body: bytes
    media_type: str
    digest: str


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Repository:
    """One repository (``library/busybox``) on a connection, for ``actions`` (pull / pull,push)."""

    def __init__(self, connection: Connection, path: str, actions: str = "pull") -> None:
        self.connection = connection
        self.path = path
        self.actions = actions

    def url(self, suffix: str) -> str:
        return f"{self.connection.endpoint.url}/v2/{self.path}/{suffix}"

    @contextlib.asynccontextmanager
    async def send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None,
        data: Any = None, extra_scopes: Sequence[str] = (), ok: Sequence[int] = (200,),
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one request; an answer outside ``ok`` raises its typed error."""
        scopes = [f"repository:{self.path}:{self.actions}", *extra_scopes]
        all_headers = dict(headers or {})
        all_headers.update(await self.connection.auth.headers(method, url, scopes))
        try:
            async with self.connection.http.request(
                method, url, headers=all_headers, data=data, ssl=self.connection.ssl,
            ) as response:
                if response.status not in ok:
                    body = b"" if method == "HEAD" else await read_some(response, 1 << 16)
                    raise response_error(response.status, body)
                yield response
        except aiohttp.ClientError as exc:
            raise RegistryUnreachable(describe_failure(method, url, exc)) from None

    # ---- manifests ------------------------------------------------------------------

    async def get_manifest(self, reference: str) -> FetchedManifest:
        """The manifest a tag or digest names, verified against its digest.

        As dockerd: a tag is resolved with HEAD, the manifest fetched by digest;
        when HEAD gives no digest, GET by tag tells the manifest or the error.
        """
        accept = {"Accept": ", ".join(ACCEPTED_MANIFEST_TYPES)}
        digest = reference if reference.startswith("sha256:") else ""
        if not digest:
            try:
                async with self.send("HEAD", self.url(f"manifests/{reference}"), headers=accept,
                                     ok=range(200, 400)) as response:
                    digest = response.headers.get("Docker-Content-Digest", "")
            except (NoCredentials, RegistryUnreachable):
                raise
            except DockyardError:
                pass  # HEAD answers carry no error body: the GET below tells what is wrong
        if not digest.startswith("sha256:"):
            # Either a registry without HEAD support, or an error whose body tells what.
            async with self.send("GET", self.url(f"manifests/{reference}"),
                                 headers=accept) as response:
                body = await _read_limited(response, MAX_MANIFEST_BYTES, "manifest")
                return FetchedManifest(body, response.content_type, sha256_of(body))
        async with self.send("GET", self.url(f"manifests/{digest}"), headers=accept) as response:
            body = await _read_limited(response, MAX_MANIFEST_BYTES, "manifest")
            media_type = response.content_type
        if sha256_of(body) != digest:
            raise InvalidArgument(f"manifest verification failed for digest {digest}")
        return FetchedManifest(body, media_type, digest)

    async def put_manifest(self, reference: str, media_type: str, body: bytes) -> str:
        async with self.send("PUT", self.url(f"manifests/{reference}"),
                             headers={"Content-Type": media_type}, data=body,
                             ok=(201, 200, 202)) as response:
            return response.headers.get("Docker-Content-Digest", "") or sha256_of(body)

    async def tags(self) -> list[str]:
        async with self.send("GET", self.url("tags/list")) as response:
            data = await response.json(content_type=None)
        tags = data.get("tags") if isinstance(data, dict) else None
        return [t for t in tags or [] if isinstance(t, str)]

    # ---- blobs ------------------------------------------------------------------------

    async def blob_bytes(self, digest: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
        async with self.send("GET", self.url(f"blobs/{digest}")) as response:
            return await _read_limited(response, limit, "blob")

    @contextlib.asynccontextmanager
    async def open_blob(
        self, digest: str, offset: int = 0
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A blob's body from ``offset`` (status 206 when the registry honoured the Range)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        async with self.send("GET", self.url(f"blobs/{digest}"), headers=headers,
                             ok=(200, 206)) as response:
            yield response

    async def blob_size(self, digest: str) -> int | None:
        """The size of a blob the repository has, or None."""
        async with self.send("HEAD", self.url(f"blobs/{digest}"), ok=(200, 404)) as response:
            if response.status == 404:
                return None
            return int(response.headers.get("Content-Length", "0") or 0)

    async def start_upload(self, mount: str = "", source: str = "") -> tuple[bool, str]:
        """POST an upload; with ``mount``/``source`` try a cross-repository mount first.

        Returns (mounted, location): a 201 means the blob is mounted, a 202 an
        upload session at ``location``.
        """
        url = self.url("blobs/uploads/")
        scopes: list[str] = []
        if mount:
            url = with_query(url, mount=mount, **{"from": source})
            scopes.append(f"repository:{source}:pull")
        async with self.send("POST", url, extra_scopes=scopes, ok=(201, 202)) as response:
            location = self.connection.absolute(response.headers.get("Location", ""))
            return response.status == 201, location

    async def put_blob(self, location: str, digest: str, data: AsyncIterable[bytes] | bytes,
                       size: int) -> None:
        """Finish an upload with the remaining bytes (all of them: a monolithic upload)."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        async with self.send("PUT", with_query(location, digest=digest), headers=headers,
                             data=data, ok=(201, 204)):
            pass

    async def patch_chunk(self, location: str, chunk: bytes, start: int) -> str:
        """Send one chunk of a chunked upload; return the location of the next call."""
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Range": f"{start}-{start + len(chunk) - 1}",
                   "Content-Length": str(len(chunk))}
        async with self.send("PATCH", location, headers=headers, data=chunk,
                             ok=(202, 204)) as response:
            return self.connection.absolute(response.headers.get("Location", location))

    async def cancel_upload(self, location: str) -> None:
        with contextlib.suppress(Exception):
            async with self.send("DELETE", location, ok=range(200, 500)):
                pass


async def read_some(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the body (all of it when it is shorter)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            break
    return b"".join(chunks)[: limit + 1]


async def _read_limited(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    body = await read_some(response, limit)
    if len(body) > limit:
        raise InvalidArgument(f"{what} is larger than {limit} bytes")
    return body

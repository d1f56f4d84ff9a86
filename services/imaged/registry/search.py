"""``docker search``: a registry's v1 search endpoint, asked as dockerd asks it.

The index comes from the term (:func:`split_search_term`). Docker Hub's is
``https://index.docker.io/v1/`` and is used without a ping. Another registry's
``/v1/`` is pinged at ``_ping`` over https first; any HTTP answer will do. An
insecure registry (``insecure-registries``, loopback) falls back to http when
https fails; a secure one fails with dockerd's advice about the flag.

The search is ``GET <index>/v1/search?q=<name>&n=<limit>`` with
``X-Docker-Token: true`` and, when a username is given, Basic credentials;
a username with an identity token (a login's refresh token) instead earns a
bearer token for the scope ``registry:catalog:search`` through the registry's
``/v2/`` challenge, as dockerd's v2 auth client does.
Anything but 200 is "Unexpected status code N" (dockerd's 500: Debian's
docker-registry has no v1 API and answers 404).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import aiohttp

from services.common.errors import Internal, InvalidArgument
from services.common.filter_args import Filters
from services.imaged.reference import DEFAULT_DOMAIN
from services.imaged.registry.api import connect, describe_failure, open_http
from services.imaged.registry.auth import basic_header
from services.imaged.registry.endpoints import Endpoint, is_insecure
from services.imaged.registry.models import RegistryAuth, SearchResult
from services.imaged.registry.search_filters import (
    keep,
    parse_search_filters,
    search_limit,
    split_search_term,
)
from services.imaged.registry.settings import RegistrySettings

HUB_INDEX = "https://index.docker.io/v1/"
MAX_RESULTS_BYTES = 16 << 20
"""A search answer is a page of short records; a larger one is refused, not read."""
SEARCH_SCOPE = "registry:catalog:search"


async def _ping(http: aiohttp.ClientSession, base: str, verify_tls: bool) -> str | None:
    """None when ``<base>_ping`` answers at all, else the failure in Go's words."""
    url = f"{base}_ping"
    try:
        async with http.get(url, ssl=verify_tls) as response:
            await response.content.read(64 << 10)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return describe_failure("GET", url, exc)
    return None


async def _index_url(http: aiohttp.ClientSession, index: str,
                     settings: RegistrySettings) -> tuple[str, bool]:
    """The v1 base URL to search at and whether to verify its TLS (dockerd's newV1Endpoint)."""
    if index == DEFAULT_DOMAIN:
        return HUB_INDEX, True
    insecure = await is_insecure(index, settings)
    https_error = await _ping(http, f"https://{index}/v1/", not insecure)
    if https_error is None:
        return f"https://{index}/v1/", not insecure
    if not insecure:
        raise InvalidArgument(
            f"invalid registry endpoint https://{index}/v1/: {https_error}. If this private "
            "registry supports only HTTP or HTTPS with an unknown CA certificate, please add "
            f"`--insecure-registry {index}` to the daemon's arguments. In the case of HTTPS, "
            "if you have access to the registry's CA certificate, no need for the flag; "
            f"simply place the CA certificate at /etc/docker/certs.d/{index}/ca.crt"
        )
    http_error = await _ping(http, f"http://{index}/v1/", False)
    if http_error is not None:
        raise InvalidArgument(
            f'invalid registry endpoint "http://{index}/v1/". '
            f"HTTPS attempt: {https_error}. HTTP attempt: {http_error}"
        )
    return f"http://{index}/v1/", False


async def _bounded_body(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 << 10):
        size += len(chunk)
        if size > MAX_RESULTS_BYTES:
            raise Internal("error decoding registry search results: the answer is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _authorization(http: aiohttp.ClientSession, base: str, verify_tls: bool,
                         auth: RegistryAuth) -> dict[str, str]:
    """The Authorization header of the search request, if any."""
    if auth.username and auth.identity_token:
        origin = base.removesuffix("/v1/")
        connection = await connect(http, Endpoint(origin, verify_tls=verify_tls), auth)
        return await connection.auth.headers("GET", f"{base}search", [SEARCH_SCOPE])
    if auth.username:
        return {"Authorization": basic_header(auth.username, auth.password)}
    return {}


def _result(entry: Any) -> SearchResult:
    """One entry of the answer's ``results``, typed as Go's decoder would insist."""
    if not isinstance(entry, dict):
        raise ValueError("a result is not a JSON object")
    name, description = entry.get("name", ""), entry.get("description", "")
    stars = entry.get("star_count", 0)
    official = entry.get("is_official", False)
    if not isinstance(name, str) or not isinstance(description, str):
        raise ValueError("name and description must be strings")
    if not isinstance(stars, int) or isinstance(stars, bool):
        raise ValueError("star_count must be an integer")
    if not isinstance(official, bool):
        raise ValueError("is_official must be a boolean")
    return SearchResult(name, description, stars, official)


def parse_results(body: bytes) -> list[SearchResult]:
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("the answer is not a JSON object")
        entries = data.get("results") or []
        if not isinstance(entries, list):
            raise ValueError("results is not a list")
        return [_result(entry) for entry in entries]
    except ValueError as exc:
        raise Internal(f"error decoding registry search results: {exc}") from None


async def search_images(settings: RegistrySettings, term: str, limit: int,
                        filters: Filters, auth: RegistryAuth) -> list[SearchResult]:
    """dockerd's registry search: bad input is refused before any traffic."""
    wanted = parse_search_filters(filters)
    if wanted.automated_only:
        return []
    count = search_limit(limit)
    index, remote = split_search_term(term)
    # The session does not decompress: ask for the plain answer.
    headers = {"X-Docker-Token": "true", "Accept-Encoding": "identity"}
    async with open_http() as http:
        base, verify_tls = await _index_url(http, index, settings)
        headers |= await _authorization(http, base, verify_tls, auth)
        url = f"{base}search?{urlencode({'q': remote, 'n': str(count)})}"
        try:
            async with http.get(url, headers=headers, ssl=verify_tls) as response:
                if response.status != 200:
                    raise Internal(f"Unexpected status code {response.status}")
                body = await _bounded_body(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Internal(describe_failure("GET", url, exc)) from None
    return keep(parse_results(body), wanted)

"""``docker import URL``: the gateway downloads the archive and streams it to imaged.

As dockerd (daemon/images/image_import.go): a source without a scheme is
taken as ``http://``; the image's comment defaults to ``Imported from URL``;
the answer is a JSON stream, ``Downloading from URL`` and then the new image
ID. A URL that cannot be fetched is a 400 before the stream starts; an
archive imaged refuses is an error message inside the stream.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from gateway.jsonstream import JsonStream
from gateway.keys import BACKENDS
from services.common.errors import DockyardError, InvalidArgument
from services.imaged.models import ImportOptions

DOWNLOAD_CHUNK = 1 << 20
CONNECT_SECONDS = 30.0


def source_url(source: str) -> str:
    """The URL to fetch for ``fromSrc``; only http and https are allowed."""
    url = source if "://" in source else "http://" + source
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f"invalid import source {source!r}: expected an http(s) URL or -")
    return url


async def import_from_url(
    request: web.Request, source: str, options: ImportOptions
) -> web.StreamResponse:
    url = source_url(source)
    options = dataclasses.replace(options, message=options.message or f"Imported from {url}")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            download = await session.get(url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InvalidArgument(f"error downloading {url}: {exc or type(exc).__name__}") from None
        async with download:
            if download.status >= 400:
                raise InvalidArgument(
                    f"failed to GET {url} with status {download.status} {download.reason}"
                )
            stream = JsonStream(request)
            await stream.send({"status": f"Downloading from {url}"})
            try:
                image_id = await request.app[BACKENDS].images.import_image(
                    options, download.content.iter_chunked(DOWNLOAD_CHUNK)
                )
            except DockyardError as exc:
                await stream.send_error(exc.message)
            except aiohttp.ClientError as exc:
                await stream.send_error(f"error downloading {url}: {exc}")
            else:
                await stream.send({"status": image_id})
            return await stream.finish()

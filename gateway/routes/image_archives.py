"""Image archive routes: ``docker save`` (``/images/get``, ``/images/{name}/get``) and ``load``.

Save streams the tar imaged produces; names are resolved before the first
byte, so an unknown image is a plain 404. Load answers with dockerd's JSON
message stream, errors included in it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from aiohttp import web

from gateway.events import images as image_events
from gateway.jsonstream import JsonStream
from gateway.keys import BACKENDS
from gateway.routing import Route
from services.common.errors import DockyardError

log = logging.getLogger(__name__)

TAR_CONTENT_TYPE = "application/x-tar"
UPLOAD_CHUNK = 1 << 20


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    chunks = request.app[BACKENDS].images.save_images(names)
    try:
        first = await anext(chunks, b"")  # a bad name fails here, before any header
        response = web.StreamResponse(headers={"Content-Type": TAR_CONTENT_TYPE})
        await response.prepare(request)
        try:
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
        except DockyardError as exc:
            # Headers are gone: like dockerd, cut the connection so the client sees
            # a truncated archive rather than a complete-looking one.
            log.error("save failed mid-stream", extra={"error": exc.message})
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        await image_events.emit_saved(request.app[BACKENDS].images, names)
        return response
    finally:
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()  # ends the gRPC stream when the client went away


async def get_images_save(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


async def get_image_save(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def post_images_load(request: web.Request) -> web.StreamResponse:
    # quiet only silences progress bars, which imaged does not send.
    stream = JsonStream(request)
    try:
        async for line in request.app[BACKENDS].images.load_images(
            request.content.iter_chunked(UPLOAD_CHUNK)
        ):
            await stream.send({"stream": line})
            image_events.emit_loaded(line)
    except DockyardError as exc:
        await stream.send_error(exc.message)
    return await stream.finish()


ROUTES = (
    Route("GET", "/images/get", get_images_save),
    Route("GET", "/images/{name:.+}/get", get_image_save),
    Route("POST", "/images/load", post_images_load),
)

"""Image routes: list, import, inspect, history, tag, remove, prune.

Image names contain ``/`` (``me/app``, ``localhost:5000/a/b``), so the name
segment matches greedily up to the fixed suffix of each route.
"""

from __future__ import annotations

from aiohttp import web

from gateway import query
from gateway.events import emit
from gateway.events import images as image_events
from gateway.events.prunes import emit_images_pruned
from gateway.image_views import delete_json, history_json, inspect_json, prune_json, summary_json
from gateway.keys import BACKENDS
from gateway.responses import JSON_CONTENT_TYPE, encode_json, json_response
from gateway.routes import distribution
from gateway.routing import Route
from gateway.url_import import import_from_url
from gateway.versioning import request_version
from services.common.errors import Conflict, InvalidArgument
from services.imaged.models import ImportOptions

UPLOAD_CHUNK = 1 << 20


async def get_images_json(request: web.Request) -> web.Response:
    images = await request.app[BACKENDS].images.list_images(
        query.filters(request), query.bool_value(request, "all")
    )
    version = request_version(request)
    return json_response([summary_json(image, version) for image in images])


async def post_images_create(request: web.Request) -> web.StreamResponse:
    if request.query.get("fromImage"):
        return await distribution.pull_image(request)
    source = request.query.get("fromSrc", "")
    if not source:
        raise InvalidArgument("either fromImage or fromSrc must be given")
    options = ImportOptions(
        repo=request.query.get("repo", ""),
        tag=request.query.get("tag", ""),
        message=request.query.get("message", ""),
        changes=tuple(request.query.getall("changes", [])),
        platform=request.query.get("platform", ""),
    )
    if source != "-":
        return await import_from_url(request, source, options)
    image_id = await request.app[BACKENDS].images.import_image(
        options, request.content.iter_chunked(UPLOAD_CHUNK)
    )
    emit("image", "import", image_id, {"name": image_id})
    # dockerd writes nothing until the import is done, so failures above are
    # plain HTTP errors; success is one JSON progress message (CRLF-terminated).
    body = encode_json({"status": image_id}).rstrip(b"\n") + b"\r\n"
    return web.Response(body=body, headers={"Content-Type": JSON_CONTENT_TYPE})


async def get_image_json(request: web.Request) -> web.Response:
    image = await request.app[BACKENDS].images.inspect_image(request.match_info["name"])
    return json_response(inspect_json(image, request_version(request)))


async def get_image_history(request: web.Request) -> web.Response:
    entries = await request.app[BACKENDS].images.image_history(request.match_info["name"])
    return json_response([history_json(entry) for entry in entries])


async def post_image_tag(request: web.Request) -> web.Response:
    await request.app[BACKENDS].images.tag_image(
        request.match_info["name"], request.query.get("repo", ""), request.query.get("tag", "")
    )
    await image_events.emit_tagged(request.app[BACKENDS].images, request.match_info["name"],
                                   request.query.get("repo", ""), request.query.get("tag", ""))
    return web.Response(status=201)


async def _refuse_if_running(request: web.Request, name: str) -> None:
    """dockerd never deletes an image a running container uses, even with force."""
    backends = request.app[BACKENDS]
    if backends.lifecycle is None or not query.bool_value(request, "force"):
        return  # without force imaged refuses for any container using the image
    image = await backends.images.inspect_image(name)
    for record in await backends.containers.list():
        if record.image_id != image.id:
            continue
        state = await backends.lifecycle.state(record.id)
        if state.running:
            raise Conflict(
                f"conflict: unable to delete {image.id.removeprefix('sha256:')[:12]} "
                f"(cannot be forced) - image is being used by running container {record.id[:12]}"
            )


async def delete_image(request: web.Request) -> web.Response:
    await _refuse_if_running(request, request.match_info["name"])
    image = await image_events.image_id(request.app[BACKENDS].images, request.match_info["name"])
    items = await request.app[BACKENDS].images.remove_image(
        request.match_info["name"],
        force=query.bool_value(request, "force"),
        no_prune=query.bool_value(request, "noprune"),
    )
    image_events.emit_removal(image, items)
    return json_response([delete_json(item) for item in items])


async def post_images_prune(request: web.Request) -> web.Response:
    result = await request.app[BACKENDS].images.prune_images(query.filters(request))
    emit_images_pruned(result.deleted, result.space_reclaimed)
    return json_response(prune_json(result))


ROUTES = (
    Route("GET", "/images/json", get_images_json),
    Route("GET", "/images/{name:.+}/json", get_image_json),
    Route("GET", "/images/{name:.+}/history", get_image_history),
    Route("POST", "/images/create", post_images_create),
    Route("POST", "/images/prune", post_images_prune),
    Route("POST", "/images/{name:.+}/tag", post_image_tag),
    Route("DELETE", "/images/{name:.+}", delete_image),
)

"""``GET /images/search?term=&limit=&filters=`` (``docker search``), answered by imaged.

As dockerd's route: ``limit`` must be a Go integer ("invalid limit specified:
…") within 1..100 (0 or absent: 25); an unreadable ``X-Registry-Auth`` is
ignored (search works anonymously). Results keep moby's registry.SearchResult
field order.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.keys import BACKENDS
from gateway.query import NumberError, go_quote, parse_int
from gateway.query import filters as query_filters
from gateway.registry_auth import registry_auth
from gateway.responses import json_response
from gateway.routing import Route
from services.common.errors import InvalidArgument, Unavailable
from services.imaged.registry.models import SearchResult
from services.imaged.registry.search_filters import search_limit


def search_result_json(result: SearchResult) -> dict[str, Any]:
    return {"star_count": result.star_count, "is_official": result.is_official,
            "name": result.name, "is_automated": result.is_automated,
            "description": result.description}


def limit_of(request: web.Request) -> int:
    text = request.query.get("limit", "")
    if not text:
        return 0
    try:
        limit = parse_int(text)
    except NumberError as exc:
        raise InvalidArgument(
            f"invalid limit specified: strconv.Atoi: parsing {go_quote(text)}: {exc.reason}"
        ) from None
    search_limit(limit)  # refused here, before imaged is asked
    return limit


async def get_images_search(request: web.Request) -> web.Response:
    limit = limit_of(request)
    wanted = query_filters(request)
    backend = request.app[BACKENDS].distribution
    if backend is None:
        raise Unavailable("registry operations are not available")
    results = await backend.search_images(request.query.get("term", ""), limit, wanted,
                                          registry_auth(request, lenient=True))
    return json_response([search_result_json(r) for r in results])


ROUTES = (Route("GET", "/images/search", get_images_search),)

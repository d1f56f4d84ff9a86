"""The one place that turns an error into an HTTP status and body.

Handlers return responses or raise :mod:`services.common.errors` kinds; they
never write an error themselves. Unknown paths and wrong methods are both
``404 page not found``, as moby's router answers (its ``MethodNotAllowedHandler``
is the not-found handler), so clients probing for an endpoint see one answer.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.responses import json_response, text_response
from gateway.versioning import wants_plain_text_errors
from services.common import errors
from services.common.etcd_store import unavailable_from

log = logging.getLogger(__name__)

PAGE_NOT_FOUND = "page not found"

STATUS_BY_KIND: dict[type[errors.DockyardError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidArgument: 400,
    errors.NotModified: 304,
    errors.Forbidden: 403,
    errors.Unauthorized: 401,
    errors.Unavailable: 503,
    errors.Internal: 500,
}


def status_for(exc: errors.DockyardError) -> int:
    """The status of an error kind; a subclass keeps its parent's status."""
    for kind in type(exc).__mro__:
        if kind in STATUS_BY_KIND:
            return STATUS_BY_KIND[kind]
    return 500


def error_response(request: web.Request, status: int, message: str) -> web.Response:
    if status == 304:
        # HTTP forbids a body on 304; Go's server drops it too.
        return web.Response(status=304)
    if wants_plain_text_errors(request.path):
        # dockerd's http.Error form, for clients that predate JSON errors.
        response = text_response(message + "\n", status=status)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    return json_response({"message": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.DockyardError as exc:
        status = status_for(exc)
        if status >= 500:
            log.error(
                "handler failed",
                extra={"method": request.method, "path": request.path, "error": exc.message},
            )
        return error_response(request, status, exc.message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return error_response(request, 404, PAGE_NOT_FOUND)
    except web.HTTPException as exc:
        # aiohttp's own refusals (oversized body, bad request line …) keep their
        # status but get dockerd's body shape; redirects and successes pass through.
        if exc.status < 400:
            raise
        return error_response(request, exc.status, exc.text or exc.reason)
    except Exception as exc:  # a bug: answer 500 with its text, keep serving
        unavailable = unavailable_from(exc)
        if unavailable is not None:
            return error_response(request, 503, unavailable.message)
        log.exception("unexpected error", extra={"method": request.method, "path": request.path})
        return error_response(request, 500, f"internal error: {exc}" if str(exc) else repr(exc))

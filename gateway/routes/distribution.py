"""Registry routes: pull (``/images/create?fromImage=``), push, ``/auth``, ``/distribution``.

Pull and push stream Docker's JSON messages (:mod:`gateway.progress_stream`);
credentials come from ``X-Registry-Auth`` (:mod:`gateway.registry_auth`).
Image names contain ``/``, so the push route's name matches up to ``/push``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.backends import DistributionBackend
from gateway.events import images as image_events
from gateway.keys import BACKENDS
from gateway.progress_stream import stream_progress
from gateway.registry_auth import auth_from_json, registry_auth
from gateway.responses import json_response
from gateway.routing import Route
from services.common.errors import InvalidArgument, Unavailable
from services.imaged.registry.models import DistributionInfo, Platform


def _distribution(request: web.Request) -> DistributionBackend:
    backend = request.app[BACKENDS].distribution
    if backend is None:
        raise Unavailable("registry operations are not available")
    return backend


async def pull_image(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=…`` (images.py dispatches here)."""
    events = _distribution(request).pull_image(
        request.query.get("fromImage", ""), request.query.get("tag", ""),
        request.query.get("platform", ""), registry_auth(request, lenient=True),
    )
    events = image_events.after_transfer(
        events, "pull", request.query.get("fromImage", ""), request.query.get("tag", ""))
    return await stream_progress(request, events)


async def post_image_push(request: web.Request) -> web.StreamResponse:
    events = _distribution(request).push_image(
        request.match_info["name"], request.query.get("tag", ""), registry_auth(request)
    )
    events = image_events.after_transfer(
        events, "push", request.match_info["name"], request.query.get("tag", ""))
    return await stream_progress(request, events)


async def post_auth(request: web.Request) -> web.Response:
    try:
        data = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON in the auth configuration: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid auth configuration: expected a JSON object")
    result = await _distribution(request).check_auth(auth_from_json(data))
    # AuthenticateOKBody's field order.
    return json_response({"IdentityToken": result.identity_token, "Status": result.status})


def platform_json(platform: Platform) -> dict[str, Any]:
    """An OCI platform as Go marshals ocispec.Platform (empty optional fields left out)."""
    out: dict[str, Any] = {"architecture": platform.architecture, "os": platform.os}
    if platform.os_version:
        out["os.version"] = platform.os_version
    if platform.os_features:
        out["os.features"] = list(platform.os_features)
    if platform.variant:
        out["variant"] = platform.variant
    return out


def distribution_json(info: DistributionInfo) -> dict[str, Any]:
    return {
        "Descriptor": {"mediaType": info.media_type, "digest": info.digest, "size": info.size},
        "Platforms": [platform_json(p) for p in info.platforms],
    }


async def get_distribution_json(request: web.Request) -> web.Response:
    info = await _distribution(request).get_distribution(
        request.match_info["name"], registry_auth(request, lenient=True)
    )
    return json_response(distribution_json(info))


ROUTES = (
    Route("GET", "/distribution/{name:.+}/json", get_distribution_json),
    Route("POST", "/images/{name:.+}/push", post_image_push),
    Route("POST", "/auth", post_auth),
)

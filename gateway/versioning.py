"""Engine API versions: the optional ``/v1.xx`` prefix, its bounds, its wording.

Every route is registered twice, bare and under ``/v{version}`` (as moby's
router does), so the prefix arrives as the ``version`` match variable.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.typedefs import Handler

from services.common.errors import InvalidArgument

API_VERSION = "1.47"
"""The version this engine implements and advertises in ``Api-Version``."""
MIN_API_VERSION = "1.24"
"""The oldest version clients may ask for, as in dockerd 27."""

VERSION_PREFIX = "/v{version:[0-9.]+}"
"""moby's ``versionMatcher``: anything else after ``/v`` is simply an unknown path."""

REQUESTED_VERSION = web.RequestKey("api_version", str)
"""The negotiated API version of a request, for handlers whose answer depends on it."""

_EXPLICIT_VERSION = re.compile(r"^/v([0-9.]+)(?:/|$)")


def _parts(version: str) -> list[int]:
    # moby's versions.compare: dot-separated numbers, a malformed part counts as 0.
    return [int(p) if p.isdigit() else 0 for p in version.split(".")]


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, equal to or newer than ``b``."""
    pa, pb = _parts(a), _parts(b)
    width = max(len(pa), len(pb))
    pa += [0] * (width - len(pa))
    pb += [0] * (width - len(pb))
    return (pa > pb) - (pa < pb)


def check_version(version: str) -> str:
    """``version`` if this engine serves it; otherwise dockerd's 400 wording."""
    if compare(version, MIN_API_VERSION) < 0:
        raise InvalidArgument(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    if compare(version, API_VERSION) > 0:
        raise InvalidArgument(
            f"client version {version} is too new. Maximum supported API version is "
            f"{API_VERSION}"
        )
    return version


def explicit_version(path: str) -> str | None:
    """The ``/v1.xx`` prefix of a raw path, also for paths that matched no route."""
    match = _EXPLICIT_VERSION.match(path)
    return match.group(1) if match else None


def wants_plain_text_errors(path: str) -> bool:
    """dockerd answers clients older than 1.24 in plain text: they cannot read JSON errors."""
    version = explicit_version(path)
    return version is not None and compare(version, MIN_API_VERSION) < 0


def request_version(request: web.Request) -> str:
    """The API version a request asked for; the newest when it has no prefix."""
    version: str = request.get(REQUESTED_VERSION, API_VERSION)
    return version


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Unmatched paths skip the check, like moby's catch-all: /v1.99/nope is a 404.
    if request.match_info.http_exception is None:
        version = request.match_info.get("version")
        request[REQUESTED_VERSION] = API_VERSION if version is None else check_version(version)
    return await handler(request)

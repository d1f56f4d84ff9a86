"""Docker's query-string quirks, translated once at the edge.

Booleans follow moby's ``httputils.BoolValue`` (anything but ``""``, ``0``,
``no``, ``false``, ``none`` is true); ``filters`` is JSON, either the current
``{"name": ["v"]}`` or the old ``{"name": {"v": true}}`` form.
"""

from __future__ import annotations

import json

from aiohttp import web

from services.common.errors import InvalidArgument

_FALSE = frozenset({"", "0", "no", "false", "none"})


def bool_value(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").strip().lower() not in _FALSE


def filters(request: web.Request) -> dict[str, tuple[str, ...]]:
    """The ``filters`` parameter as name → values; a malformed one is a 400."""
    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filter: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    out: dict[str, tuple[str, ...]] = {}
    for name, values in data.items():
        if isinstance(values, list) and all(isinstance(v, str) for v in values):
            out[name] = tuple(values)
        elif isinstance(values, dict) and all(isinstance(v, bool) for v in values.values()):
            out[name] = tuple(k for k, on in values.items() if on)
        else:
            raise InvalidArgument(f"invalid filter: values of {name!r} must be strings")
    return out

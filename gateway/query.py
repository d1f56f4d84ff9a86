"""Docker's query-string quirks, translated once at the edge.

Booleans follow moby's ``httputils.BoolValue`` (anything but ``""``, ``0``,
``no``, ``false``, ``none`` is true); ``filters`` is JSON, either the current
``{"name": ["v"]}`` or the old ``{"name": {"v": true}}`` form.
"""

from __future__ import annotations

import json
import re

from aiohttp import web

from services.common.errors import InvalidArgument

_FALSE = frozenset({"", "0", "no", "false", "none"})
# Go's strconv.ParseInt base 10: an optional sign and ASCII digits, nothing else
# (no blanks, no underscores, no other scripts' digits as Python's int() takes).
_GO_INT = re.compile(r"[+-]?[0-9]+")
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT32_MAX = (1 << 32) - 1


class NumberError(ValueError):
    """A number Go's strconv refuses; ``reason`` is its words ("invalid syntax" …)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def go_quote(text: str) -> str:
    """``text`` as Go's ``%q`` shows it (double quotes, escapes)."""
    return json.dumps(text, ensure_ascii=False)


def parse_int(text: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """``text`` as ``strconv.ParseInt(text, 10, 64)`` reads it, within ``low..high``."""
    if not _GO_INT.fullmatch(text):
        raise NumberError("invalid syntax")
    value = int(text)
    if not low <= value <= high:
        raise NumberError("value out of range")
    return value


def uint32_value(request: web.Request, name: str, what: str) -> int:
    """Query parameter ``name`` as an unsigned 32-bit integer (dockerd: a 400 otherwise)."""
    text = request.query.get(name, "")
    try:
        return parse_int(text, 0, UINT32_MAX)
    except NumberError as exc:
        raise InvalidArgument(f"invalid {what} {go_quote(text)}: {exc.reason}") from None


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

"""Response bodies shaped byte for byte like dockerd's.

dockerd's ``httputils.WriteJSON`` sends ``Content-Type: application/json`` with
no charset, compact JSON without HTML escaping, and a trailing newline; clients
that compare the header literally depend on the first.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def encode_json(data: Any) -> bytes:
    return (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def json_response(data: Any, *, status: int = 200) -> web.Response:
    # Built by hand: web.json_response appends "; charset=utf-8".
    return encoded_json_response(encode_json(data), status=status)


def encoded_json_response(body: bytes, *, status: int = 200) -> web.Response:
    """A body :func:`encode_json` made earlier (kept by a cache)."""
    return web.Response(status=status, body=body, headers={"Content-Type": JSON_CONTENT_TYPE})


def text_response(text: str, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=text.encode(), headers={"Content-Type": TEXT_CONTENT_TYPE}
    )

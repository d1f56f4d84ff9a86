"""Docker's JSON message stream (pull, push): one JSON object per line, CRLF-terminated.

Fields come in ``jsonmessage.JSONMessage``'s order (status, progressDetail,
progress, id, aux, then errorDetail, error); ``progress`` is the bar dockerd
renders for a 200-column terminal, ``[=====>    ]  1.2MB/3.4MB``, with sizes
in go-units' HumanSize (decimal, four significant digits).

The response starts only with the first message: an operation that fails
before reporting anything answers a plain HTTP error (404 for an unknown
image), as dockerd does; a later failure is the last line,
``{"errorDetail":{"message":…},"error":…}``, inside the 200.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.responses import JSON_CONTENT_TYPE
from services.common.errors import DockyardError
from services.imaged.registry.models import ProgressEvent

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
BAR_WIDTH = 50


def human_size(size: float) -> str:
    """go-units HumanSize: ``32.77kB``, ``2.217MB``."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.4g}{_UNITS[unit]}"


def progress_bar(current: int, total: int) -> str:
    """jsonmessage.JSONProgress.String() for a wide terminal.

    No time left: dockerd sends no start time.
    """
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(int(current / total * 100) // 2, BAR_WIDTH)
    bar = "[" + "=" * filled + ">" + " " * max(BAR_WIDTH - filled, 0) + "] "
    if current > total:
        return bar + f"{human_size(current):>8}"
    return bar + f"{human_size(current):>8}/{human_size(total)}"


def message_json(event: ProgressEvent) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if event.status:
        out["status"] = event.status
    if event.detail:
        detail: dict[str, int] = {}
        if event.current:
            detail["current"] = event.current
        if event.total:
            detail["total"] = event.total
        out["progressDetail"] = detail
        bar = progress_bar(event.current, event.total)
        if bar:
            out["progress"] = bar
    if event.id:
        out["id"] = event.id
    if event.aux:
        out["aux"] = json.loads(event.aux)
    return out


def error_json(message: str) -> dict[str, Any]:
    return {"errorDetail": {"message": message}, "error": message}


def encode_line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\r\n"


async def stream_progress(
    request: web.Request, events: AsyncIterator[ProgressEvent]
) -> web.StreamResponse:
    """Send ``events`` as Docker's message stream; see the module doc for errors."""
    first = await anext(events, None)  # a failure here is a plain HTTP error
    response = web.StreamResponse(status=200, headers={"Content-Type": JSON_CONTENT_TYPE})
    await response.prepare(request)
    try:
        if first is not None:
            await response.write(encode_line(message_json(first)))
        async for event in events:
            await response.write(encode_line(message_json(event)))
    except DockyardError as exc:
        await response.write(encode_line(error_json(exc.message)))
    await response.write_eof()
    return response

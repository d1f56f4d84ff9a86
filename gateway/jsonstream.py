"""Docker's JSON message stream (load, import from a URL): one JSON object per line.

dockerd's streamformatter ends each message with CRLF. Once the stream has
started, an error is a message too (``{"errorDetail": {...}, "error": ...}``)
inside the 200 response, which the CLI prints before exiting with status 1.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.responses import JSON_CONTENT_TYPE, encode_json


def json_line(message: dict[str, Any]) -> bytes:
    return encode_json(message).rstrip(b"\n") + b"\r\n"


def error_line(text: str) -> bytes:
    return json_line({"errorDetail": {"message": text}, "error": text})


class JsonStream:
    """A 200 ``application/json`` response whose headers go out with the first message."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response = web.StreamResponse(headers={"Content-Type": JSON_CONTENT_TYPE})

    async def send(self, message: dict[str, Any]) -> None:
        await self._write(json_line(message))

    async def send_error(self, text: str) -> None:
        await self._write(error_line(text))

    async def _write(self, data: bytes) -> None:
        if not self.response.prepared:
            await self.response.prepare(self._request)
        await self.response.write(data)

    async def finish(self) -> web.StreamResponse:
        if not self.response.prepared:
            await self.response.prepare(self._request)
        await self.response.write_eof()
        return self.response

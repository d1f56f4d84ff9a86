"""``GET /events``: replay from ``since`` out of etcd, then stream live events until ``until``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from gateway import query
from gateway.events import current_journal
from gateway.events.filters import EventFilter
from gateway.events.journal import StreamEnded
from gateway.events.window import parse_timestamp
from gateway.responses import JSON_CONTENT_TYPE, encode_json
from gateway.routing import Route
from gateway.streams.client_gone import while_connected


async def get_events(request: web.Request) -> web.StreamResponse:
    event_filter = EventFilter.parse(query.filters(request))
    since = parse_timestamp("since", request.query.get("since", ""))
    until = parse_timestamp("until", request.query.get("until", ""))
    journal = current_journal()
    # Subscribe before reading the history: nothing falls between the two.
    subscription = journal.subscribe()
    try:
        response = web.StreamResponse(headers={"Content-Type": JSON_CONTENT_TYPE})
        # Headers go out at once: `docker events` and `docker stats` wait for them.
        await response.prepare(request)

        async def send(message: dict[str, Any]) -> None:
            if event_filter.matches(message):
                await response.write(encode_json(message))

        async def stream() -> None:
            last_key = ""
            if since is not None:
                for key, message in await journal.history(since):
                    if until is not None and int(message.get("timeNano", 0)) > until:
                        break
                    await send(message)
                    last_key = key
            while until is None or time.time_ns() < until:
                wait = None if until is None else (until - time.time_ns()) / 1e9
                try:
                    key, message = await asyncio.wait_for(subscription.next(), wait)
                except (TimeoutError, StreamEnded):
                    break
                if key <= last_key:
                    continue  # already sent from the history
                if until is not None and int(message.get("timeNano", 0)) > until:
                    break
                await send(message)

        with contextlib.suppress(ConnectionError):  # ClientGone too: an idle `docker events`
            await while_connected(request, stream())
            await response.write_eof()
        return response
    finally:
        journal.unsubscribe(subscription)


ROUTES = (Route("GET", "/events", get_events),)

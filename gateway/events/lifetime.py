"""The journal's lifetime in the gateway app: started before anything emits, closed last."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.events import install, uninstall
from gateway.events.journal import EventJournal
from gateway.keys import BACKENDS


async def event_journal(app: web.Application) -> AsyncIterator[None]:
    store = app[BACKENDS].store
    if not hasattr(store, "watch_prefix"):  # unit tests' fake store: events are not kept
        yield
        return
    journal = EventJournal(store)  # type: ignore[arg-type]
    journal.start()
    install(journal)
    try:
        yield
    finally:
        uninstall(journal)
        await journal.close()

"""Ask a service for something with a deadline; a failure becomes a value, not a raise.

dockerd always answers ``/version`` and ``/info``, so a service that is down or
slow costs only its fields there, never the whole answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from services.common.errors import DockyardError

T = TypeVar("T")

SERVICE_TIMEOUT = 2.0
"""Seconds a summary route waits for any one service before leaving it out."""


@dataclass(frozen=True)
class Missing:
    """A part that did not answer, and why."""

    part: str
    reason: str


async def ask(part: str, call: Awaitable[T]) -> T | Missing:
    """``call``'s result, or why ``part`` could not give it within SERVICE_TIMEOUT."""
    try:
        async with asyncio.timeout(SERVICE_TIMEOUT):
            return await call
    except TimeoutError:
        return Missing(part, f"no answer within {SERVICE_TIMEOUT:g}s")
    except DockyardError as exc:
        return Missing(part, exc.message)

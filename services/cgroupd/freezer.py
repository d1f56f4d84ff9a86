"""Freeze and thaw a cgroup (docker pause/unpause), waiting until the kernel is done.

Freezing is asynchronous: v1 shows ``FREEZING`` until every task has stopped,
v2 sets ``frozen 1`` in cgroup.events. A freeze that does not complete in time
is undone, so a container is never left half frozen (runc does the same).
"""

from __future__ import annotations

import asyncio
import time

from services.cgroupd.driver import FROZEN, THAWED, Driver
from services.common.errors import Unavailable

POLL_SECONDS = 0.005
DEFAULT_TIMEOUT = 10.0


async def change(
    driver: Driver, path: str, frozen: bool, wait_seconds: float = DEFAULT_TIMEOUT
) -> str:
    """Freeze (or thaw) ``path`` and wait for the state; return the state reached."""
    want = FROZEN if frozen else THAWED
    driver.set_frozen(path, frozen)
    wait_seconds = wait_seconds if wait_seconds > 0 else DEFAULT_TIMEOUT
    deadline = time.monotonic() + wait_seconds
    delay = POLL_SECONDS
    while True:
        state = driver.freeze_state(path)
        if state == want:
            return state
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
    if frozen:
        driver.set_frozen(path, False)
    raise Unavailable(
        f"timed out after {wait_seconds:g}s waiting for cgroup {path} to become {want} "
        f"(it is {state})"
    )

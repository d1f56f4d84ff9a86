"""Telling a start of Dockyard from a restart of one of its parts (restart policies)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.containers import daemon_start
from gateway.containers.daemon_start import LAST_LAUNCH_KEY, is_new_launch, until_answered
from services.common import launch
from services.common.errors import Unavailable
from services.common.etcd_store import Condition, Put, Write


@dataclass
class Entry:
    value: bytes


class MemoryStore:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    async def get(self, key: str) -> Entry | None:
        return Entry(self.values[key]) if key in self.values else None

    async def commit(self, conditions: Sequence[Condition], writes: Sequence[Write]) -> bool:
        for write in writes:
            assert isinstance(write, Put)
            self.values[write.key] = write.value
        return True


def test_a_launch_is_new_until_its_pass_is_recorded() -> None:
    store = MemoryStore()
    assert asyncio.run(is_new_launch(store, "first"))
    asyncio.run(store.commit([], [Put(LAST_LAUNCH_KEY, b"first")]))
    assert not asyncio.run(is_new_launch(store, "first"))  # the gateway alone restarted
    assert asyncio.run(is_new_launch(store, "second"))  # dockyard up again
    assert not asyncio.run(is_new_launch(store, ""))  # no launch known: never


def test_launch_id_from_the_launcher_else_the_boot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(launch.LAUNCH_ID_ENV, "abc")
    assert launch.current_launch_id() == "abc"
    monkeypatch.delenv(launch.LAUNCH_ID_ENV)
    boot = tmp_path / "boot_id"
    boot.write_text("1234-5678\n")
    monkeypatch.setattr(launch, "BOOT_ID", boot)
    assert launch.current_launch_id() == "boot:1234-5678"
    assert launch.new_launch_id() != launch.new_launch_id()


def test_until_answered_waits_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_start, "RETRY_SECONDS", 0.001)
    calls = {"n": 0}

    async def comes_up_on_the_third_try() -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            raise Unavailable("connection refused")

    async def always_up() -> None:
        return None

    asyncio.run(until_answered([always_up, comes_up_on_the_third_try]))
    assert calls["n"] == 3


def test_until_answered_gives_up_with_the_last_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_start, "RETRY_SECONDS", 0.001)
    monkeypatch.setattr(daemon_start, "SERVICES_DEADLINE", 0.01)

    async def never() -> None:
        raise Unavailable("execd.sock: connection refused")

    with pytest.raises(Unavailable, match=r"execd\.sock: connection refused"):
        asyncio.run(until_answered([never]))

"""The events of a failed start (dockerd's cleanup) and of detached execs followed again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from gateway.events import install, uninstall
from gateway.events.attachments import emit_failed_start, emit_left
from gateway.events.exec_follows import FOLLOWS_PREFIX, ExecFollows
from gateway.events.journal import EventJournal
from services.common.errors import NotFound, Unavailable

CID = "c" * 64


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, dict[str, str]]] = []

    def emit(self, event_type: str, action: str, actor_id: str,
             attributes: Mapping[str, str]) -> None:
        self.seen.append((event_type, action, actor_id, dict(attributes)))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recording = Recorder()
    journal = cast(EventJournal, recording)
    install(journal)
    yield recording
    uninstall(journal)


@dataclass
class Record:
    id: str = CID
    name: str = "/web"
    image_name: str = "busybox"
    config: dict[str, Any] = field(default_factory=dict)
    network_settings: dict[str, Any] = field(default_factory=lambda: {
        "Networks": {"bridge": {"NetworkID": "n" * 64}}})
    mounts: tuple[dict[str, Any], ...] = (
        {"Type": "volume", "Name": "data", "Destination": "/data", "RW": True},
        {"Type": "bind", "Source": "/srv", "Destination": "/srv"},
    )


def actions(recorder: Recorder) -> list[tuple[str, str, str]]:
    return [(t, a, i) for t, a, i, _ in recorder.seen]


def test_a_process_that_could_not_start_reports_its_parts_joined_then_left(
    recorder: Recorder,
) -> None:
    emit_failed_start(Record(), joined=True, had_sandbox=True)
    assert actions(recorder) == [
        ("network", "connect", "n" * 64), ("volume", "mount", "data"),
        ("network", "disconnect", "n" * 64), ("volume", "unmount", "data")]
    assert recorder.seen[-1][3] == {"container": CID, "driver": "local"}
    # Left once: the release that follows (a --rm removal) reports nothing more.
    emit_left(Record())
    assert len(recorder.seen) == 4


def test_a_start_that_failed_before_its_process_reports_no_connect_nor_mount(
    recorder: Recorder,
) -> None:
    emit_failed_start(Record(), joined=False, had_sandbox=True)
    assert actions(recorder) == [
        ("network", "disconnect", "n" * 64), ("volume", "unmount", "data")]
    recorder.seen.clear()
    emit_failed_start(Record(), joined=False, had_sandbox=False)
    assert actions(recorder) == [("volume", "unmount", "data")]
    assert not any(a in ("start", "die") for _, a, _, _ in recorder.seen)


@dataclass
class Entry:
    key: str
    value: bytes


class NoteStore:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    async def put(self, key: str, value: bytes, *, lease: Any = None) -> None:
        self.values[key] = value

    async def delete(self, key: str) -> bool:
        return self.values.pop(key, None) is not None

    async def get_prefix(self, prefix: str) -> list[Entry]:
        return [Entry(k, v) for k, v in self.values.items() if k.startswith(prefix)]


@dataclass
class ExecInfo:
    container_id: str
    exit_code: int | None


class Execs:
    """execd's sessions: exit code by exec ID (None: running); absent ones are unknown."""

    def __init__(self, sessions: dict[str, int | None]) -> None:
        self.sessions = sessions
        self.down = False

    async def inspect_exec(self, exec_id: str) -> ExecInfo:
        if self.down:
            raise Unavailable("execd is not reachable")
        if exec_id not in self.sessions:
            raise NotFound(f"No such exec instance: {exec_id}")
        return ExecInfo(CID, self.sessions[exec_id])


class Records:
    async def get(self, ref: str) -> Record:
        return Record()


def test_execs_noted_by_a_previous_gateway_are_reported_once_or_dropped(
    recorder: Recorder,
) -> None:
    async def scenario() -> None:
        store = NoteStore()
        for exec_id in ("ended", "running", "unknown"):
            store.values[FOLLOWS_PREFIX + exec_id] = b'{"v": 1}'
        execs = Execs({"ended": 9, "running": None})
        execs.down = True  # execd restarting: asked again, not given up on
        follows = ExecFollows(store, Records(), execs)
        follows.resume()
        await asyncio.sleep(0.1)
        assert recorder.seen == []
        execs.down = False
        await asyncio.sleep(0.7)
        assert list(store.values) == [FOLLOWS_PREFIX + "running"]
        execs.sessions["running"] = 5
        await asyncio.sleep(0.7)
        await follows.close()
        assert store.values == {}

    asyncio.run(scenario())
    dies = [(a, attrs["execID"], attrs["exitCode"]) for _, a, _, attrs in recorder.seen]
    assert dies == [("exec_die", "ended", "9"), ("exec_die", "running", "5")]


def test_execs_this_gateway_noted_are_not_followed_twice(recorder: Recorder) -> None:
    async def scenario() -> None:
        store = NoteStore()
        follows = ExecFollows(store, Records(), Execs({"mine": 3}))
        await follows.note("mine", CID)
        follows.resume()
        await asyncio.sleep(0.2)
        assert recorder.seen == [] and FOLLOWS_PREFIX + "mine" in store.values
        await follows.settled("mine", True)  # its own stream reported it
        assert store.values == {}
        await follows.close()

    asyncio.run(scenario())

"""Container events that need the container's record (or more) before they can be emitted."""

from __future__ import annotations

import asyncio
import contextlib
import signal as signals
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol

from gateway.containers.times import parse_rfc3339
from gateway.events import emit_container
from services.common.errors import DockyardError, NotFound
from services.execd.models import RuntimeState

# Exits already reported (container → FinishedAt): execd may write one exit more than once.
_reported_exits: OrderedDict[str, str] = OrderedDict()
_REMEMBERED_EXITS = 4096


class RecordReader(Protocol):
    async def get(self, ref: str) -> Any: ...


def signal_number(text: str, default: int = signals.SIGKILL) -> str:
    """``"SIGTERM"``/``"TERM"``/``"15"`` → ``"15"``, as dockerd's kill event names it."""
    text = text.strip().upper()
    if not text:
        return str(int(default))
    if text.isdigit():
        return text
    name = text if text.startswith("SIG") else "SIG" + text
    with contextlib.suppress(AttributeError):
        return str(int(getattr(signals, name)))
    return text


async def emit_for(records: RecordReader, ref: str, action: str, **extra: str) -> None:
    """Emit about a container known by reference; a container gone meanwhile is not reported."""
    with contextlib.suppress(DockyardError):
        emit_container(await records.get(ref), action, **extra)


# Starts whose ``start`` event is not out yet: a process that exits at once is
# seen exiting (through etcd) before execd's answer to the start comes back.
_starts_in_flight: dict[str, asyncio.Event] = {}
START_REPORT_WAIT_SECONDS = 5.0


@contextlib.contextmanager
def start_in_flight(container_id: str) -> Iterator[None]:
    """Around a start and its ``start`` event: a ``die`` of that run waits until it is out."""
    reported = asyncio.Event()
    _starts_in_flight[container_id] = reported
    try:
        yield
    finally:
        if _starts_in_flight.get(container_id) is reported:
            del _starts_in_flight[container_id]
        reported.set()


async def report_exit(records: RecordReader, state: RuntimeState) -> None:
    """``oom`` (when the kernel killed it) then ``die`` with exitCode and execDuration."""
    if _reported_exits.get(state.container_id) == state.finished_at:
        return
    starting = _starts_in_flight.get(state.container_id)
    if starting is not None:  # dockerd's order: start, then die
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(starting.wait(), START_REPORT_WAIT_SECONDS)
    if _reported_exits.get(state.container_id) == state.finished_at:
        return
    _reported_exits[state.container_id] = state.finished_at
    _reported_exits.move_to_end(state.container_id)
    while len(_reported_exits) > _REMEMBERED_EXITS:
        _reported_exits.popitem(last=False)
    try:
        record = await records.get(state.container_id)
    except DockyardError:
        return
    if state.oom_killed:
        emit_container(record, "oom")
    started = parse_rfc3339(state.started_at)
    finished = parse_rfc3339(state.finished_at)
    duration = int(finished - started) if started is not None and finished is not None else 0
    emit_container(
        record, "die", exitCode=str(state.exit_code), execDuration=str(max(duration, 0))
    )


class ExecReader(Protocol):
    async def inspect_exec(self, exec_id: str) -> Any: ...


_background: set[asyncio.Task[Any]] = set()
EXEC_EXIT_WAIT_SECONDS = 5.0


def exec_action(verb: str, config: Any) -> str:
    """dockerd's ``exec_create: sh -c date``: the verb, then the command."""
    command = config.get("Cmd") if isinstance(config, dict) else None
    words = [str(w) for w in command] if isinstance(command, list) else []
    return f"{verb}: {' '.join(words)}" if words else verb


def report_exec_exit(records: RecordReader, execs: ExecReader, exec_id: str) -> None:
    """``exec_die`` once execd has the exit code of an exec whose output just ended (in the
    background: the client's stream is not held for it)."""
    task = asyncio.ensure_future(_report_exec_exit(records, execs, exec_id))
    _background.add(task)
    task.add_done_callback(_background.discard)


class DetachedStream(Protocol):
    def output(self) -> AsyncIterator[tuple[int, bytes]]: ...
    def cancel(self) -> None: ...


def report_detached_exec_exit(
    records: RecordReader, execs: ExecReader, exec_id: str, stream: DetachedStream,
    settled: Callable[[str, bool], Awaitable[None]] | None = None,
) -> None:
    """``exec_die`` for ``docker exec -d``: execd ends a detached exec's stream once its
    process has ended (however long it runs), then the exit code is read. ``settled``
    is told then whether that is done: reported, or the session is gone; not when the
    stream broke while the exec may still run."""
    task = asyncio.ensure_future(_after_detached(records, execs, exec_id, stream, settled))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _after_detached(
    records: RecordReader, execs: ExecReader, exec_id: str, stream: DetachedStream,
    settled: Callable[[str, bool], Awaitable[None]] | None,
) -> None:
    try:
        async for _ in stream.output():
            pass
    except DockyardError:
        pass  # execd went away: whether the session went with it, inspect tells
    finally:
        stream.cancel()
    done = await _report_exec_exit(records, execs, exec_id)
    if settled is not None:
        await settled(exec_id, done)


async def _report_exec_exit(records: RecordReader, execs: ExecReader, exec_id: str) -> bool:
    """Whether the exit is settled: reported, or the session is gone (nothing to report)."""
    deadline = time.monotonic() + EXEC_EXIT_WAIT_SECONDS
    delay = 0.005
    while time.monotonic() < deadline:
        try:
            info = await execs.inspect_exec(exec_id)
        except NotFound:
            return True
        except DockyardError:
            return False
        if info.exit_code is not None:
            await emit_for(records, info.container_id, "exec_die",
                           execID=exec_id, exitCode=str(info.exit_code))
            return True
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
    return False

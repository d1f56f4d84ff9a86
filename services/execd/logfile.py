"""Reading a container's log as conmon writes it (the CRI "k8s-file" format).

Each line is ``<RFC 3339 nano time> <stdout|stderr> <F|P> <bytes>``: ``F`` ends
a line the container wrote, ``P`` is a piece of a longer line or output
without a newline. Entries are handed out as Docker's json-file driver would:
one per piece, its newline kept when it had one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

STDOUT = 1
STDERR = 2
FOLLOW_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class LogEntry:
    stream: int
    time_nanos: int
    data: bytes


def parse_time(text: str) -> int:
    """Unix nanoseconds of an RFC 3339 time with up to nine fractional digits."""
    main, _, rest = text.partition(".")
    fraction = ""
    offset = ""
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, offset = rest[:digits], rest[digits:]
    else:
        for sign in ("+", "-", "Z"):
            if sign in main[19:]:
                index = main.index(sign, 19)
                main, offset = main[:index], main[index:]
                break
    if offset in ("Z", ""):
        offset = "+00:00"
    seconds = datetime.fromisoformat(main + offset).timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


def parse_line(line: bytes) -> LogEntry | None:
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    stream = STDOUT if parts[1] == b"stdout" else STDERR if parts[1] == b"stderr" else 0
    if not stream:
        return None
    try:
        when = parse_time(parts[0].decode())
    except ValueError:
        return None
    body = parts[3] if len(parts) == 4 else b""
    if parts[2] == b"F":
        body += b"\n"
    return LogEntry(stream, when, body)


@dataclass(frozen=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    since_nanos: int = 0
    until_nanos: int = 0
    tail: int = -1
    follow: bool = False

    def wants(self, entry: LogEntry) -> bool:
        if entry.stream == STDOUT and not self.stdout:
            return False
        if entry.stream == STDERR and not self.stderr:
            return False
        if self.since_nanos and entry.time_nanos < self.since_nanos:
            return False
        return not (self.until_nanos and entry.time_nanos > self.until_nanos)


def _read_entries(path: Path, offset: int) -> tuple[list[LogEntry], int]:
    """Complete lines from ``offset``; the offset after the last complete one."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    entries = [e for line in data[:end].split(b"\n") if (e := parse_line(line)) is not None]
    return entries, offset + end + 1


async def read_log(
    path: Path, query: LogQuery, still_running: Callable[[], bool]
) -> AsyncIterator[LogEntry]:
    """The selected entries; with ``follow``, new ones until the container stops."""
    entries, offset = await asyncio.to_thread(_read_entries, path, 0)
    selected = [e for e in entries if query.wants(e)]
    if query.tail >= 0:
        selected = list(deque(selected, maxlen=query.tail)) if query.tail else []
    for entry in selected:
        yield entry
    if not query.follow:
        return
    while True:
        running = still_running()
        entries, new_offset = await asyncio.to_thread(_read_entries, path, offset)
        if new_offset < offset or _size(path) < offset:
            offset = 0  # conmon truncated the file at its size limit
            continue
        offset = new_offset
        for entry in entries:
            if query.until_nanos and entry.time_nanos > query.until_nanos:
                return
            if query.wants(entry):
                yield entry
        if not running and not entries:
            return
        await asyncio.sleep(FOLLOW_POLL_SECONDS)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0

"""Reading a container's log as conmon writes it (the CRI "k8s-file" format).

Each line is ``<RFC 3339 nano time> <stdout|stderr> <F|P> <bytes>``: ``F`` ends
a line the container wrote, ``P`` is a piece of a longer line or output
without a newline. Entries are handed out as Docker's json-file driver would:
one per piece, its newline kept when it had one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from services.execd import logcompress, logrotate

log = logging.getLogger(__name__)

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


def _entries_of(data: bytes) -> list[LogEntry]:
    return [e for line in data.split(b"\n") if (e := parse_line(line)) is not None]


def _read_all(path: Path, live: _LiveFile | None = None, since_nanos: int = 0) -> list[LogEntry]:
    """Every complete entry of the log, its rotated files first (oldest to newest).

    With ``live``, the file conmon writes is read through it (and so is not
    read twice should a rotation have renamed it meanwhile). A compressed
    file whose last entry is older than ``since_nanos`` is not unpacked.
    """
    entries: list[LogEntry] = []
    files = logrotate.log_files(path)
    for file in files[:-1] if live is not None else files:
        data = _content(file, live, since_nanos)
        end = data.rfind(b"\n")
        if end >= 0:
            entries += _entries_of(data[:end])
    if live is not None:
        entries += live.read_new()
    return entries


def _content(file: Path, live: _LiveFile | None, since_nanos: int) -> bytes:
    """What one of the log's files holds, unpacked; empty when it is gone (or skipped).

    A rotated file compressed since it was listed is found in its other form.
    """
    rotated = file.suffix == logcompress.GZIP_SUFFIX or file.suffix[1:].isdigit()
    for candidate in (file, logrotate.other_form(file)) if rotated else (file,):
        try:
            with open(candidate, "rb") as f:
                if live is not None and live.holds(os.fstat(f.fileno()).st_ino):
                    return b""
                data = f.read()
        except FileNotFoundError:
            continue
        if not candidate.name.endswith(logcompress.GZIP_SUFFIX):
            return data
        last = logcompress.last_time_nanos(data)
        if since_nanos and last is not None and last < since_nanos:
            return b""
        try:
            return logcompress.decompress(data)
        except zlib.error as e:
            log.warning("cannot read the compressed log %s: %s", candidate, e)
            return b""
    return b""


class _LiveFile:
    """The log file conmon writes, read as it grows and followed when it is replaced.

    conmon replaces the file (a rotation, or its own restart at max-size) by
    renaming a new one over the path; the old one is read to its end through
    the descriptor held here before the new one is taken up.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._pending = b""
        self._open()

    def _open(self) -> None:
        try:
            self._file = open(self._path, "rb")  # noqa: SIM115 - held across polls
        except FileNotFoundError:
            self._file = None
        self._pending = b""

    def holds(self, inode: int) -> bool:
        return self._file is not None and os.fstat(self._file.fileno()).st_ino == inode

    def read_new(self) -> list[LogEntry]:
        if self._file is None:
            self._open()
            if self._file is None:
                return []
        entries = self._complete(self._file.read())
        if self._replaced():
            entries += self._complete(self._file.read())
            self._file.close()
            self._open()
            entries += self.read_new() if self._file is not None else []
        return entries

    def _complete(self, data: bytes) -> list[LogEntry]:
        data = self._pending + data
        end = data.rfind(b"\n")
        if end < 0:
            self._pending = data
            return []
        self._pending = data[end + 1:]
        return _entries_of(data[:end])

    def _replaced(self) -> bool:
        assert self._file is not None
        try:
            current = self._path.stat().st_ino
        except FileNotFoundError:
            return False  # a rotation under way: conmon still writes the held file
        return current != os.fstat(self._file.fileno()).st_ino

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def read_log(
    path: Path, query: LogQuery, still_running: Callable[[], bool]
) -> AsyncIterator[LogEntry]:
    """The selected entries; with ``follow``, new ones until the container stops."""
    # The live file is opened first and read through its descriptor from
    # then on: a rotation meanwhile is seen by its inode.
    live = await asyncio.to_thread(_LiveFile, path) if query.follow else None
    try:
        entries = await asyncio.to_thread(_read_all, path, live, query.since_nanos)
        selected = [e for e in entries if query.wants(e)]
        if query.tail >= 0:
            selected = list(deque(selected, maxlen=query.tail)) if query.tail else []
        for entry in selected:
            yield entry
        if live is None:
            return
        while True:
            running = still_running()
            entries = await asyncio.to_thread(live.read_new)
            for entry in entries:
                if query.until_nanos and entry.time_nanos > query.until_nanos:
                    return
                if query.wants(entry):
                    yield entry
            if not running and not entries:
                return
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
    finally:
        if live is not None:
            live.close()

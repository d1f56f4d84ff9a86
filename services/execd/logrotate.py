"""Rotation of container logs by Docker's json-file options ``max-size`` and ``max-file``.

dockerd keeps up to ``max-file`` files: ``<id>-json.log`` being written, then
``.1`` (the newest full one), ``.2`` … With ``max-file`` 1 (its default) the
one file is started afresh at ``max-size``; conmon does that itself
(``--log-size-max``). With more files, execd rotates: it renames the full log
aside and tells conmon (its ctl fifo) to reopen the path, which conmon does by
creating a new file there; nothing written meanwhile is lost, since conmon
keeps writing to the renamed file until it reopens. The renamed file is then
cut at line boundaries into pieces of at most ``max-size`` (output that
arrived faster than execd looked), which become ``.1``, ``.2`` … in order.

With ``compress`` the rotated files are gzipped as dockerd names them
(``.1.gz``, ``.2.gz`` …): each piece is first written plain and then
compressed apart from the size checks (see :mod:`services.execd.logcompress`);
a reader that finds the plain file gone opens the ``.gz`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument
from services.execd.logcompress import GZIP_SUFFIX, compress_file
from services.execd.logsize import parse_size

log = logging.getLogger(__name__)

REOPEN_LOGS_EVENT = 2
"""conmon's ctl fifo message type that makes it reopen its log file."""
CHECK_SECONDS = 0.1
"""How often execd looks at the size of the logs it rotates."""
REOPEN_WAIT_SECONDS = 2.0
LOGGER_ERROR = "failed to initialize logging driver"
"""dockerd's words before a bad log option, found when the container starts."""
STAGING_SUFFIX = ".rotating"
"""The full log between its rename and its cut into rotated files."""


@dataclass(frozen=True)
class RotationPolicy:
    max_size: int = -1
    """Bytes; -1 for no limit."""
    max_file: int = 1
    compress: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, object], default_max_size: int = -1) -> (
            RotationPolicy):
        """From a container's ``LogConfig.Config`` (the daemon's log-opts merged in)."""
        size_text = options.get("max-size")
        max_size = parse_size(str(size_text)) if size_text is not None else default_max_size
        file_text = str(options.get("max-file") or "1")
        try:
            max_file = int(file_text)
        except ValueError:
            raise InvalidArgument(
                f'{LOGGER_ERROR}: strconv.Atoi: parsing "{file_text}": invalid syntax') from None
        if max_file < 1:
            raise InvalidArgument(f"{LOGGER_ERROR}: max-file cannot be less than 1")
        compress = False
        compress_text = options.get("compress")
        if compress_text is not None:
            compress = _parse_go_bool(str(compress_text))
            if compress and (max_file == 1 or max_size <= 0):
                raise InvalidArgument(
                    f"{LOGGER_ERROR}: compress cannot be true when max-file is less than 2 "
                    "or max-size is not set")
        return cls(max_size=max_size, max_file=max_file, compress=compress)

    @property
    def rotates(self) -> bool:
        """Whether execd rotates the log (more than one file is kept)."""
        return self.max_size > 0 and self.max_file > 1

    @property
    def conmon_size_max(self) -> int:
        """conmon's ``--log-size-max``: only when the one file is simply started afresh."""
        return self.max_size if self.max_size > 0 and self.max_file == 1 else -1


_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _parse_go_bool(text: str) -> bool:
    """A boolean as dockerd reads ``compress`` (Go's strconv.ParseBool), with its error."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise InvalidArgument(f'{LOGGER_ERROR}: strconv.ParseBool: parsing "{text}": invalid syntax')


def rotated_path(path: Path, index: int, compressed: bool = False) -> Path:
    return path.with_name(f"{path.name}.{index}{GZIP_SUFFIX if compressed else ''}")


def other_form(path: Path) -> Path:
    """The same rotated file compressed (``.N`` → ``.N.gz``) or plain (``.N.gz`` → ``.N``)."""
    if path.name.endswith(GZIP_SUFFIX):
        return path.with_name(path.name.removesuffix(GZIP_SUFFIX))
    return path.with_name(path.name + GZIP_SUFFIX)


def staging_path(path: Path) -> Path:
    return path.with_name(path.name + STAGING_SUFFIX)


def log_files(path: Path) -> list[Path]:
    """The files of one log, oldest first: ``.N`` … ``.1``, a rotation under way, the live one.

    A rotated file is named plain when it is (also) found plain: while it is
    being compressed both exist, and the plain one goes only once the ``.gz``
    is whole (a reader that then misses the plain one opens :func:`other_form`).
    """
    rotated: dict[int, Path] = {}
    prefix = path.name + "."
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path.parent):
            if not entry.name.startswith(prefix):
                continue
            suffix = entry.name.removeprefix(prefix)
            compressed = suffix.endswith(GZIP_SUFFIX)
            index = suffix.removesuffix(GZIP_SUFFIX)
            if index.isdigit() and (not compressed or int(index) not in rotated):
                rotated[int(index)] = Path(entry.path)
    files = [rotated[index] for index in sorted(rotated, reverse=True)]
    return [*files, staging_path(path), path]


def split_lines(data: bytes, max_size: int) -> list[bytes]:
    """``data`` cut after newlines into pieces of at most ``max_size`` (a longer line alone)."""
    pieces: list[bytes] = []
    current = bytearray()
    for line in data.splitlines(keepends=True):
        if current and len(current) + len(line) > max_size:
            pieces.append(bytes(current))
            current = bytearray()
        current += line
    if current:
        pieces.append(bytes(current))
    return pieces


def reopen_request(bundle: Path) -> Callable[[], bool]:
    """A function asking the container's conmon to reopen its log; False when it is gone."""

    def reopen() -> bool:
        try:
            fd = os.open(bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            os.write(fd, f"{REOPEN_LOGS_EVENT} 0 0\n".encode())
        except OSError:
            return False
        finally:
            os.close(fd)
        return True

    return reopen


def rotate_if_full(path: Path, policy: RotationPolicy, reopen: Callable[[], bool]) -> bool:
    """Rotate ``path`` once it holds ``max_size`` bytes; whether it did."""
    try:
        full = path.stat()
    except FileNotFoundError:
        return False
    if full.st_size < policy.max_size:
        return False
    staging = staging_path(path)
    path.rename(staging)
    if reopen() and not _reopened(path, full.st_ino):
        # conmon did not follow: give the file back rather than cut one it writes.
        with contextlib.suppress(OSError):
            if not path.exists():
                staging.rename(path)
        log.warning("conmon did not reopen %s; not rotated", path)
        return False
    _cut_into_rotated(path, staging, policy)
    return True


def compress_rotated(path: Path, policy: RotationPolicy) -> None:
    """gzip the rotated files still plain (the new ones, or ones an execd that went away
    left half done); drop what a compression cut short left."""
    if not policy.compress:
        return
    for index in range(1, policy.max_file):
        partial = rotated_path(path, index, compressed=True)
        partial.with_name(partial.name + ".tmp").unlink(missing_ok=True)
        plain = rotated_path(path, index)
        if not plain.exists():
            continue
        packed = rotated_path(path, index, compressed=True)
        if packed.exists():
            plain.unlink(missing_ok=True)  # the .gz was whole before its rename
        else:
            compress_file(plain)


def _reopened(path: Path, old_inode: int) -> bool:
    deadline = time.monotonic() + REOPEN_WAIT_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino != old_inode:
                return True
        time.sleep(0.005)
    return False


def _cut_into_rotated(path: Path, staging: Path, policy: RotationPolicy) -> None:
    keep = policy.max_file - 1
    pieces = split_lines(staging.read_bytes(), policy.max_size)[-keep:]
    shift = len(pieces)
    for index in range(keep, 0, -1):
        for compressed in (False, True):
            source = rotated_path(path, index, compressed)
            if not source.exists():
                continue
            if index + shift > keep:
                source.unlink()
            else:
                source.rename(rotated_path(path, index + shift, compressed))
    for index, piece in enumerate(reversed(pieces), start=1):
        temporary = path.with_name(f"{path.name}.{index}.tmp")
        temporary.write_bytes(piece)
        temporary.rename(rotated_path(path, index))
    staging.unlink()


@dataclass(frozen=True)
class _Watched:
    path: Path
    policy: RotationPolicy
    reopen: Callable[[], bool]


class LogRotator:
    """Looks at the logs of running containers that keep several files, and rotates them.

    Each container's rotation (and compression) runs as a task of its own, so a
    large file being compressed delays no other container's rotation; the
    next rotation of the same log waits for it, so the numbering it works on
    stays still.
    """

    def __init__(self) -> None:
        self._watched: dict[str, _Watched] = {}
        self._task: asyncio.Task[None] | None = None
        self._busy: dict[str, asyncio.Task[None]] = {}

    def watch(self, container_id: str, path: Path, policy: RotationPolicy, bundle: Path) -> None:
        if not policy.rotates:
            self._watched.pop(container_id, None)
            return
        watched = _Watched(path, policy, reopen_request(bundle))
        self._watched[container_id] = watched
        if policy.compress and container_id not in self._busy:
            # Rotated files an execd that went away left uncompressed.
            self._start(container_id, self._compress(container_id, watched))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def forget(self, container_id: str) -> None:
        self._watched.pop(container_id, None)

    async def settle(self, container_id: str) -> None:
        """Wait for a rotation or compression of the container's log still under way
        (before its files are removed)."""
        task = self._busy.get(container_id)
        if task is not None:
            await asyncio.wait({task})  # its outcome was logged by the task itself

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for task in self._busy.values():
            task.cancel()

    def _start(self, container_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._busy[container_id] = task

        def done(_: asyncio.Future[None]) -> None:
            if self._busy.get(container_id) is task:
                del self._busy[container_id]

        task.add_done_callback(done)

    async def _run(self) -> None:
        while self._watched:
            for container_id, watched in list(self._watched.items()):
                if container_id in self._busy:
                    continue
                try:
                    size = watched.path.stat().st_size
                except OSError:
                    continue
                if size >= watched.policy.max_size:
                    self._start(container_id, self._rotate(container_id, watched))
            await asyncio.sleep(CHECK_SECONDS)

    async def _rotate(self, container_id: str, watched: _Watched) -> None:
        try:
            rotated = await asyncio.to_thread(
                rotate_if_full, watched.path, watched.policy, watched.reopen)
        except OSError as e:
            log.warning("rotating the log of %s failed: %s", container_id[:12], e)
            return
        if rotated:
            await self._compress(container_id, watched)

    async def _compress(self, container_id: str, watched: _Watched) -> None:
        # Also after the container has stopped: its last rotated file is still compressed.
        try:
            await asyncio.to_thread(compress_rotated, watched.path, watched.policy)
        except OSError as e:
            log.warning("compressing the log of %s failed: %s", container_id[:12], e)

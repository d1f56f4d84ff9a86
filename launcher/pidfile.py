"""``<exec-root>/dockyard.pid``: which launcher owns an exec-root.

The launcher holds an exclusive ``flock`` on the file for its whole life. The
lock, not the pid, says whether the owner is alive: the kernel drops it when the
process exits however it dies, so a stale file or a reused pid never makes a
dead launcher look alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from services.common.errors import Conflict


class PidFile:
    """The lock a running launcher holds; :meth:`release` on exit."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, path: Path, *, wait: float = 0.5) -> PidFile:
        """Take the lock and write our pid; Conflict when another live launcher holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        # A `down` or `status` probing the file holds a shared lock for an instant;
        # retry briefly so that probe does not look like a second launcher.
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    owner = read_live_pid(path)
                    raise Conflict(
                        f"another dockyard is running with exec-root {path.parent}"
                        + (f" (pid {owner})" if owner else "")
                    ) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Remove the file, then drop the lock (in that order, so no one reads our stale pid)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)


def read_live_pid(path: Path) -> int | None:
    """The pid of the launcher holding ``path``'s lock; None when no live launcher does."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        # We got the lock, so nobody holds it: the file is stale.
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)

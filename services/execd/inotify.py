"""Files written into one directory (conmon's exit files), through the shared inotify reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.common.inotify import IN_CLOSE_WRITE, IN_MOVED_TO, Inotify


class DirectoryWatch:
    """Calls ``on_file(name)`` for every file closed after writing, or moved, into ``directory``."""

    def __init__(self, directory: Path, on_file: Callable[[str], None]) -> None:
        self._inotify = Inotify(lambda _wd, _mask, name: on_file(name))
        if self._inotify.add_watch(directory, IN_CLOSE_WRITE | IN_MOVED_TO) < 0:
            self._inotify.close()
            raise OSError(f"cannot watch {directory} for exit files")

    def close(self) -> None:
        self._inotify.close()

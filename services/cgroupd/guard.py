"""Noticing container cgroups that someone else removed, so cgroupd can put them back.

runc is given each container's cgroupsPath and, on ``runc delete``, removes
those directories as if they were its own. execd deletes a container's runc
state whenever its process exits, also before a restart-policy restart, and
runc then makes the directories again without limits (it applies none): the
restarted container would run unlimited. cgroupd therefore watches the parent
directories of its cgroups (inotify on every hierarchy) and reports each
removed child, and the manager makes a still-recorded cgroup again with its
limits, before the restart (at least 100 ms later) places a process in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from services.common.inotify import IN_DELETE, IN_ISDIR, Inotify


class RemovalGuard:
    """Calls ``on_removed(parent, name)`` for each directory removed below a watched parent."""

    def __init__(self, on_removed: Callable[[str, str], None]) -> None:
        self._on_removed = on_removed
        self._parents: dict[int, str] = {}
        """Watch descriptor → the cgroup parent (e.g. ``dockyard``) it watches."""
        self._inotify = Inotify(self._event)

    def watch(self, parent: str, directories: Iterable[Path]) -> None:
        """Watch ``parent`` in each of its ``directories``; idempotent, absent ones skipped."""
        for directory in directories:
            wd = self._inotify.add_watch(directory, IN_DELETE)
            if wd >= 0:  # the same directory twice gives the same descriptor
                self._parents[wd] = parent

    def _event(self, wd: int, mask: int, name: str) -> None:
        parent = self._parents.get(wd)
        if parent is not None and mask & IN_DELETE and mask & IN_ISDIR:
            self._on_removed(parent, name)

    def close(self) -> None:
        self._inotify.close()

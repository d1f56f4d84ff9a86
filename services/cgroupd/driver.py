"""The one interface both cgroup versions implement, and the cgroupfs file helpers they share.

A cgroup is named by its path relative to the hierarchy root(s), e.g.
``dockyard/<container-id>``; the driver knows where that lives on disk (one
directory per v1 hierarchy, one directory on v2). Nothing here ever touches a
path outside the one it is given.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from services.cgroupd.resources import Capabilities, Resources
from services.cgroupd.stats import StatsSample
from services.common.errors import Conflict, Internal, InvalidArgument, NotFound

FROZEN = "frozen"
THAWED = "thawed"
FREEZING = "freezing"


class Driver(Protocol):
    """Operations on container cgroups, identical for cgroup v1 and v2."""

    version: str
    """"1" or "2"."""

    def capabilities(self) -> Capabilities: ...

    def create(self, path: str) -> None:
        """Make the cgroup (and its parents) wherever it must exist; idempotent."""

    def apply(self, path: str, res: Resources) -> None:
        """Write every limit of ``res``; a limit left unset is written as unlimited."""

    def remove(self, path: str) -> None:
        """Remove the cgroup and any sub-cgroups, leaf first; Conflict if processes remain."""

    def exists(self, path: str) -> bool: ...

    def directories(self, path: str) -> list[Path]:
        """Where the cgroup is on disk: one directory per hierarchy (v1), one (v2)."""

    def pids(self, path: str) -> set[int]:
        """Processes in the cgroup or below it, over every hierarchy."""

    def add_process(self, path: str, pid: int) -> None:
        """Move ``pid`` into the cgroup (every hierarchy)."""

    def set_frozen(self, path: str, frozen: bool) -> None:
        """Ask the kernel to freeze or thaw; :func:`freezer.wait` waits for it."""

    def freeze_state(self, path: str) -> str:
        """FROZEN, FREEZING or THAWED."""

    def sample(self, path: str, system_cpu_ns: int, online_cpus: int) -> StatsSample:
        """Read one statistics sample."""

    def oom_kills(self, path: str) -> int:
        """How many processes the OOM killer has killed in the cgroup so far."""

    def children(self, parent: str) -> set[str]:
        """Names of the cgroups directly below ``parent``, over every hierarchy."""


# ---- cgroupfs helpers ----------------------------------------------------------------


def read_text(path: Path, default: str = "") -> str:
    """A cgroupfs file's content; ``default`` when the file (controller) is absent."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return default
    except OSError as exc:
        if exc.errno in (errno.ENODEV, errno.EOPNOTSUPP, errno.EINVAL):
            return default
        raise


def read_int(path: Path, default: int = 0) -> int:
    text = read_text(path).strip()
    return int(text) if text.lstrip("-").isdigit() else default


def write(path: Path, value: str | int) -> None:
    """Write one value; kernel refusals become typed errors naming the file."""
    data = str(value)
    try:
        with open(path, "w") as f:
            f.write(data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f'failed to write "{data}" to "{path}": {reason.lower()}'
        if exc.errno == errno.EBUSY:
            # v1 memory: the kernel could not reclaim down to the new limit.
            raise Conflict(message) from None
        if exc.errno in (errno.EINVAL, errno.ERANGE):
            raise InvalidArgument(message) from None
        raise Internal(message) from None


def subtree(path: Path) -> list[Path]:
    """``path`` and every cgroup below it, deepest first (the order rmdir needs)."""
    found: list[Path] = []
    try:
        # scandir's entry types come with the listing: no stat of each of the
        # dozens of control files in every hierarchy (this runs on every
        # create and removal of a container's cgroup).
        with os.scandir(path) as entries:
            children = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        # Absent, or removed meanwhile (runc tidies the cgroups of a create
        # that failed while cgroupd looks): nothing of it is left to handle.
        return found
    for child in children:
        found.extend(subtree(child))
    found.append(path)
    return found


def procs_below(path: Path) -> set[int]:
    pids: set[int] = set()
    for cgroup in subtree(path):
        pids.update(int(p) for p in read_text(cgroup / "cgroup.procs").split())
    return pids


def rmdir_tree(path: Path, *, attempts: int = 20) -> None:
    """rmdir ``path`` leaf first. A cgroup whose last process just exited may still
    report busy for a moment, so busy directories are retried briefly."""
    for cgroup in subtree(path):
        for attempt in range(attempts):
            try:
                cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or attempt == attempts - 1:
                    raise Conflict(
                        f"cannot remove cgroup {cgroup}: {(exc.strerror or str(exc)).lower()}"
                    ) from None
                time.sleep(0.01)


def ensure_removable(paths: Iterable[Path], name: str) -> None:
    """Refuse to remove a cgroup that still holds processes: cgroupd never kills."""
    pids: set[int] = set()
    for path in paths:
        pids |= procs_below(path)
    if pids:
        raise Conflict(
            f"cgroup {name} still has {len(pids)} process(es) "
            f"({', '.join(map(str, sorted(pids)[:5]))}): stop the container first"
        )


def must_exist(path: Path, name: str) -> None:
    if not path.is_dir():
        raise NotFound(f"cgroup {name} does not exist")

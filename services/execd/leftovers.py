"""Processes a cut-short start left in a container's cgroup, unknown to runc.

If execd dies while conmon runs ``runc create``, conmon and runc may die with
it after ``runc init`` was already placed in the container's cgroup: that
process then waits forever for a ``runc start`` no one will send, runc has no
state for it, and its cgroup cannot be removed. It is found by the cgroup the
bundle names (``linux.cgroupsPath``) and killed when execd comes back.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroups_path_of(bundle: Path) -> str:
    """The bundle's ``linux.cgroupsPath`` (absolute, cgroupfs form); "" if none or unreadable."""
    try:
        document = json.loads((bundle / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    linux = document.get("linux") if isinstance(document, dict) else None
    path = linux.get("cgroupsPath") if isinstance(linux, dict) else None
    return path if isinstance(path, str) and path.startswith("/") and ".." not in path else ""


def pids_in(cgroups_path: str, root: Path = CGROUP_ROOT) -> set[int]:
    """Every process in that cgroup, in any hierarchy (v1 controllers or the v2 tree)."""
    if not cgroups_path:
        return set()
    relative = cgroups_path.lstrip("/")
    hierarchies = [root, *(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []
    found: set[int] = set()
    for hierarchy in hierarchies:
        with contextlib.suppress(OSError, ValueError):
            text = (hierarchy / relative / "cgroup.procs").read_text()
            found |= {int(line) for line in text.split()}
    return found


def kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

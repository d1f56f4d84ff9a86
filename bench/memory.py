"""Resident memory of a Dockyard cluster: every process it started and their children."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def labelled_pids(doc: Any, label: str = "launcher") -> dict[str, int]:
    """Every ``"pid": N`` in a ``dockyard status --format json`` document, by where it sits.

    The top-level pid is the launcher's; one under ``components.<name>`` is that
    component's. Walking the whole document keeps this working as the format grows.
    """
    found: dict[str, int] = {}
    if isinstance(doc, Mapping):
        pid = doc.get("pid")
        if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
            found[label] = pid
        for key, value in doc.items():
            if isinstance(value, Mapping | list):
                inner = label if key == "components" else str(key)
                found.update(labelled_pids(value, inner))
    elif isinstance(doc, list):
        for value in doc:
            found.update(labelled_pids(value, label))
    return found


def parent_of(stat_line: str) -> int:
    """The ppid field of ``/proc/<pid>/stat``; the command name may hold spaces and ')'."""
    return int(stat_line[stat_line.rindex(")") + 2 :].split()[1])


def children_by_parent(proc: Path = PROC) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = parent_of((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # the process exited while we looked
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def with_descendants(pids: Iterable[int], children: Mapping[int, list[int]]) -> set[int]:
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, ()))
    return seen


def rss_kib(pid: int, proc: Path = PROC) -> int:
    """VmRSS of ``pid`` in KiB; 0 for a process that is gone or a kernel thread."""
    try:
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kib(pid: int, proc: Path = PROC) -> int:
    """Proportional set size of ``pid`` in KiB: shared pages split among their users.

    Summing RSS counts the shared libraries (grpc's core alone is ~20 MiB) once per
    process; summing PSS gives what the cluster really costs the machine.
    """
    try:
        rollup = (proc / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class MemorySample:
    """RSS and PSS of each labelled process including its descendants, in KiB."""

    by_component: dict[str, int]
    pss_by_component: dict[str, int]

    @property
    def total_kib(self) -> int:
        return sum(self.by_component.values())

    @property
    def total_pss_kib(self) -> int:
        return sum(self.pss_by_component.values())


def sample(pids: Mapping[str, int], proc: Path = PROC) -> MemorySample:
    """RSS per component; a process counted under one label is not counted again."""
    children = children_by_parent(proc)
    counted: set[int] = set()
    by_component: dict[str, int] = {}
    pss_by_component: dict[str, int] = {}
    # Components first, the launcher last: its descendants include them all.
    for label, pid in sorted(pids.items(), key=lambda item: item[0] == "launcher"):
        tree = with_descendants([pid], children) - counted
        counted |= tree
        mine = [p for p in tree if p != os.getpid()]
        by_component[label] = sum(rss_kib(p, proc) for p in mine)
        pss_by_component[label] = sum(pss_kib(p, proc) for p in mine)
    return MemorySample(by_component=by_component, pss_by_component=pss_by_component)

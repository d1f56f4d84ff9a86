"""``<exec-root>/launcher.json``: what ``dockyard up`` started, for ``status`` and tests.

Written atomically (temp file + rename) on every change, so a reader never sees
a half-written file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

COMPONENTS: tuple[str, ...] = ("etcd", "imaged", "netd", "cgroupd", "execd", "gateway")
"""Every component of a cluster, in start order (stop order is the reverse)."""


@dataclass
class ComponentState:
    """One supervised process. ``pid`` is None while it is not running (or etcd is external)."""

    pid: int | None = None
    started: float | None = None
    restarts: int = 0
    state: str = "starting"
    """starting, running, restarting, crashloop, stopped, or external (etcd not embedded)."""


@dataclass
class LauncherState:
    pid: int
    started: float
    data_root: str
    exec_root: str
    hosts: list[str]
    etcd_endpoints: list[str]
    etcd_embedded: bool
    state: str = "starting"
    """starting, ready, stopping."""
    components: dict[str, ComponentState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LauncherState:
        components = {
            name: ComponentState(**value) for name, value in data.get("components", {}).items()
        }
        return cls(**{**data, "components": components})


def write_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON so that readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def save(path: Path, state: LauncherState) -> None:
    write_atomic(path, state.to_json())


def load(path: Path) -> LauncherState | None:
    """The launcher's state, or None when there is no (readable) file."""
    try:
        return LauncherState.from_json(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None

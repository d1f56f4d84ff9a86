"""Where a container's cgroup lives: ``<parent>/<container-id>`` in every hierarchy.

The parent is daemon.json ``cgroup-parent`` (default ``dockyard``) or the
container's ``--cgroup-parent``. Paths are relative to the hierarchy roots and
checked so that no name can climb out of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.common.errors import InvalidArgument

_CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def normalize_parent(parent: str) -> str:
    """``/dockyard/`` → ``dockyard``; refuse empty, ``.``/``..`` or odd components."""
    parts = [p for p in parent.strip().split("/") if p]
    if not parts:
        raise InvalidArgument(f"invalid cgroup parent {parent!r}: it names no cgroup")
    for part in parts:
        if part in (".", "..") or not _CONTAINER_ID.match(part):
            raise InvalidArgument(f"invalid cgroup parent {parent!r}: bad component {part!r}")
    return "/".join(parts)


def check_container_id(container_id: str) -> str:
    if not _CONTAINER_ID.match(container_id):
        raise InvalidArgument(f"invalid container id {container_id!r}")
    return container_id


def cgroup_path(parent: str, container_id: str) -> str:
    """The cgroup of a container, relative to each hierarchy root."""
    return f"{normalize_parent(parent)}/{check_container_id(container_id)}"


def runc_cgroups_path(path: str) -> str:
    """The OCI ``linux.cgroupsPath`` runc's cgroupfs driver wants: absolute from the root."""
    return "/" + path


def orphans(children: Iterable[str], recorded: Iterable[str]) -> list[str]:
    """Cgroups under the parent that no etcd record claims, sorted."""
    return sorted(set(children) - set(recorded))

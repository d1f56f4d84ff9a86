"""imaged's answers as frozen values: what the servicer sends and the client returns.

The gateway sees these, never protos. ``config`` of :class:`ImageDetails` is the
image's config document (the OCI/Docker image JSON) parsed once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Filters = Mapping[str, tuple[str, ...]]
"""Docker's ``filters``: name → values (``{"label": ("a=b",), "dangling": ("true",)}``)."""


@dataclass(frozen=True)
class ImportOptions:
    """``POST /images/create?fromSrc=-``: where to tag the result and how to change it."""

    repo: str = ""
    tag: str = ""
    message: str = ""
    changes: tuple[str, ...] = ()
    platform: str = ""


@dataclass(frozen=True)
class ImageSummary:
    id: str
    parent_id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: int
    size: int
    labels: Mapping[str, str] = field(default_factory=dict)
    containers: int = -1


@dataclass(frozen=True)
class ImageDetails:
    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    parent: str
    size: int
    config: Mapping[str, Any]
    graph_driver: Mapping[str, str]
    last_tag_time: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    id: str
    created: int
    created_by: str
    tags: tuple[str, ...]
    size: int
    comment: str


@dataclass(frozen=True)
class DeleteItem:
    """One line of ``docker rmi``: exactly one of the two is set."""

    untagged: str = ""
    deleted: str = ""


@dataclass(frozen=True)
class PruneResult:
    deleted: tuple[DeleteItem, ...]
    space_reclaimed: int


@dataclass(frozen=True)
class SnapshotChange:
    """``docker diff``: kind 0 modified, 1 added, 2 deleted."""

    path: str
    kind: int


@dataclass(frozen=True)
class CopyMount:
    """A volume or bind that ``docker cp`` of a stopped container sees at ``destination``."""

    source: str
    destination: str
    read_only: bool = False


@dataclass(frozen=True)
class PathStat:
    """dockerd's ContainerPathStat."""

    name: str
    size: int
    mode: int
    """Go's os.FileMode bits."""
    mtime: str
    """RFC 3339 with nanoseconds, as Go marshals a time.Time."""
    link_target: str
    """For a symlink: its target resolved inside the container, as a container path."""


@dataclass(frozen=True)
class CommitOptions:
    """``POST /commit``: the container, its Config and how to change, describe and name it."""

    container_id: str
    config: Mapping[str, Any]
    changes: Sequence[str] = ()
    comment: str = ""
    author: str = ""
    repo: str = ""
    tag: str = ""

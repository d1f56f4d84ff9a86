"""Volumes as frozen values: what the Volumes service returns and its client hands out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
"""The label dockerd puts on volumes created without a name."""
LOCAL_DRIVER = "local"


@dataclass(frozen=True)
class Volume:
    name: str
    driver: str
    mountpoint: str
    created_at: str
    """RFC 3339 with seconds, UTC: ``2024-01-02T03:04:05Z``."""
    labels: Mapping[str, str] | None
    """None when the volume was created without labels (JSON ``null``)."""
    options: Mapping[str, str] | None
    """The driver options; None when none were given (JSON ``null``)."""
    users: tuple[str, ...] = ()
    """IDs of the containers that reference the volume."""

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in (self.labels or {})


@dataclass(frozen=True)
class VolumeSpec:
    """``POST /volumes/create``: what to create."""

    name: str = ""
    driver: str = ""
    driver_opts: Mapping[str, str] | None = None
    labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class VolumePruneResult:
    deleted: tuple[str, ...]
    space_reclaimed: int

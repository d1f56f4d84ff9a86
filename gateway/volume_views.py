"""Volume answers shaped as the Engine API's Volume, VolumeListResponse and prune result."""

from __future__ import annotations

from typing import Any

from services.common.errors import InvalidArgument
from services.imaged.volumes.models import Volume, VolumePruneResult, VolumeSpec


def volume_json(volume: Volume) -> dict[str, Any]:
    """dockerd's field order; ``Labels``/``Options`` are null when none were given."""
    return {
        "CreatedAt": volume.created_at,
        "Driver": volume.driver,
        "Labels": dict(volume.labels) if volume.labels is not None else None,
        "Mountpoint": volume.mountpoint,
        "Name": volume.name,
        "Options": dict(volume.options) if volume.options is not None else None,
        "Scope": "local",
    }


def list_json(volumes: list[Volume]) -> dict[str, Any]:
    return {"Volumes": [volume_json(v) for v in volumes], "Warnings": None}


def prune_json(result: VolumePruneResult) -> dict[str, Any]:
    return {"VolumesDeleted": list(result.deleted), "SpaceReclaimed": result.space_reclaimed}


def _string_map(body: dict[str, Any], key: str) -> dict[str, str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgument(f"invalid {key}: expected an object of strings")
    return dict(value)


def spec_from_body(body: Any) -> VolumeSpec:
    """The ``VolumeCreateOptions`` body of ``POST /volumes/create``."""
    if not isinstance(body, dict):
        raise InvalidArgument("invalid volume create request: expected a JSON object")
    name = body.get("Name") or ""
    driver = body.get("Driver") or ""
    if not isinstance(name, str) or not isinstance(driver, str):
        raise InvalidArgument("invalid volume create request: Name and Driver must be strings")
    if body.get("ClusterVolumeSpec"):
        raise InvalidArgument("cluster volumes need swarm mode, which is not supported")
    return VolumeSpec(name=name, driver=driver, driver_opts=_string_map(body, "DriverOpts"),
                      labels=_string_map(body, "Labels"))

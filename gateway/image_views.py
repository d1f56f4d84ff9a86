"""Image answers shaped as the Engine API's ImageSummary, ImageInspect and friends."""

from __future__ import annotations

from typing import Any

from gateway.versioning import compare
from services.imaged.models import (
    DeleteItem,
    HistoryEntry,
    ImageDetails,
    ImageSummary,
    PruneResult,
)

ZERO_TIME = "0001-01-01T00:00:00Z"


def summary_json(image: ImageSummary, version: str) -> dict[str, Any]:
    tags, digests = list(image.repo_tags), list(image.repo_digests)
    if compare(version, "1.43") < 0 and not tags and not digests:
        # Clients before 1.43 expect placeholders for untagged images.
        tags, digests = ["<none>:<none>"], ["<none>@<none>"]
    out: dict[str, Any] = {
        "Containers": image.containers,
        "Created": image.created,
        "Id": image.id,
        "Labels": dict(image.labels) or None,
        "ParentId": image.parent_id,
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": image.size,
    }
    if compare(version, "1.44") < 0:
        out["VirtualSize"] = image.size
    return out


EMPTY_CONTAINER_CONFIG: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}
"""dockerd's zero container config: ``ContainerConfig`` of an image built without one."""


def inspect_json(image: ImageDetails, version: str) -> dict[str, Any]:
    config = image.config
    rootfs = config.get("rootfs") or {}
    out: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Parent": image.parent,
        "Comment": config.get("comment", ""),
        "Created": config.get("created") or None,
    }
    if compare(version, "1.45") < 0:
        # Removed in API 1.45; older clients (docker-compose 1.29) still read them.
        out["Container"] = config.get("container", "")
        out["ContainerConfig"] = config.get("container_config") or dict(EMPTY_CONTAINER_CONFIG)
    out |= {
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config"),
        "Architecture": config.get("architecture", ""),
    }
    if config.get("variant"):
        out["Variant"] = config["variant"]
    out["Os"] = config.get("os", "")
    if config.get("os.version"):
        out["OsVersion"] = config["os.version"]
    out["Size"] = image.size
    if compare(version, "1.44") < 0:
        out["VirtualSize"] = image.size
    out["GraphDriver"] = {"Data": dict(image.graph_driver) or None, "Name": "overlay2"}
    out["RootFS"] = {"Type": rootfs.get("type", "layers"), "Layers": rootfs.get("diff_ids", [])}
    out["Metadata"] = {"LastTagTime": image.last_tag_time or ZERO_TIME}
    return out


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "Comment": entry.comment,
        "Created": entry.created,
        "CreatedBy": entry.created_by,
        "Id": entry.id,
        "Size": entry.size,
        "Tags": list(entry.tags) or None,
    }


def delete_json(item: DeleteItem) -> dict[str, str]:
    return {"Untagged": item.untagged} if item.untagged else {"Deleted": item.deleted}


def prune_json(result: PruneResult) -> dict[str, Any]:
    return {
        "ImagesDeleted": [delete_json(i) for i in result.deleted] or None,
        "SpaceReclaimed": result.space_reclaimed,
    }

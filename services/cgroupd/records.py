"""The etcd record of one container's cgroup, under ``/dockyard/v1/cgroups/<container-id>``.

cgroupd is the only writer. Other services read ``path`` (runc's cgroupsPath),
the applied ``resources`` and ``oom_kills`` (how many OOM kills the kernel has
reported for the cgroup so far; it only grows).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from services.cgroupd.resources import Resources, ThrottleDevice

PREFIX = "cgroups/"
SCHEMA = 1


def key(container_id: str) -> str:
    return PREFIX + container_id


@dataclass(frozen=True)
class CgroupRecord:
    container_id: str
    name: str
    """The container's name, for metrics labels."""
    parent: str
    path: str
    """Relative to each hierarchy root: ``<parent>/<container-id>``."""
    resources: Resources
    oom_kills: int = 0

    def to_json(self) -> bytes:
        body = asdict(self)
        body["schema"] = SCHEMA
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> CgroupRecord:
        body: dict[str, Any] = json.loads(data)
        body.pop("schema", None)
        raw = dict(body.pop("resources"))
        for field_name in ("blkio_device_read_bps", "blkio_device_write_bps",
                           "blkio_device_read_iops", "blkio_device_write_iops"):
            raw[field_name] = tuple(ThrottleDevice(**d) for d in raw.get(field_name, ()))
        return cls(resources=Resources(**raw), **body)

    def with_oom_kills(self, count: int) -> CgroupRecord:
        return replace(self, oom_kills=count)

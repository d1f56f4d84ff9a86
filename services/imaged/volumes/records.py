"""What the Volumes service keeps in etcd.

Keys (under ``/dockyard/v1/``); imaged is their only writer:

``volumes/<name>``
    a volume: driver, options, labels, creation time, whether copy-up filled it.
``volume-users/<name>/<container id>``
    a container referencing the volume, with how many times it has it mounted
    now (``mounts``). The volume is in use while any such key exists; a driver
    mount is held while the mounts of all its users add up to more than zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.records import dump_record, load_record

VOLUMES = "volumes/"
USERS = "volume-users/"


def users_prefix(name: str) -> str:
    return f"{USERS}{name}/"


@dataclass(frozen=True)
class VolumeRecord:
    name: str
    driver: str
    created_at: str
    labels: Mapping[str, str] | None
    options: Mapping[str, str] | None
    populated: bool = False
    """True once copy-up copied content in, or found the volume already holding data."""

    @property
    def key(self) -> str:
        return VOLUMES + self.name

    def encode(self) -> bytes:
        return dump_record({
            "name": self.name, "driver": self.driver, "created_at": self.created_at,
            "labels": dict(self.labels) if self.labels is not None else None,
            "options": dict(self.options) if self.options is not None else None,
            "populated": self.populated,
        })

    @classmethod
    def decode(cls, value: bytes) -> VolumeRecord:
        d = load_record(value, "volume")
        return cls(name=d["name"], driver=d["driver"], created_at=d["created_at"],
                   labels=d.get("labels"), options=d.get("options"),
                   populated=bool(d.get("populated")))


@dataclass(frozen=True)
class VolumeUser:
    volume: str
    container_id: str
    mounts: int = 0

    @property
    def key(self) -> str:
        return users_prefix(self.volume) + self.container_id

    def encode(self) -> bytes:
        return dump_record({"mounts": self.mounts})

    @classmethod
    def decode(cls, key: str, value: bytes) -> VolumeUser:
        volume, _, container_id = key[len(USERS):].rpartition("/")
        return cls(volume, container_id, int(load_record(value, "volume user")["mounts"]))

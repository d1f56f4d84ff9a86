"""Container records: what the gateway keeps in etcd for each container.

Keys (under ``/dockyard/v1/``); the gateway is their only writer:

``containers/<id>``
    the record: Docker's Config and HostConfig as created, the resolved image,
    the snapshot, and what the start path filled in (network settings, mounts,
    the hosts/hostname/resolv.conf paths).
``container-names/<name>``
    the name reservation (without the leading ``/``) → container ID. Written
    and removed in the same transaction as the record, so a name is never held
    by a missing container nor given to two.

The process side (status, pid, exit code, times) is execd's, at ``runtime/<id>``
(:mod:`services.execd.models`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from services.common.records import dump_record, load_record

CONTAINERS = "containers/"
NAMES = "container-names/"


def new_container_id() -> str:
    """A random 64-hex ID; Docker's IDs are random too (not content digests)."""
    while True:
        candidate = secrets.token_hex(32)
        # As moby's stringid: a short ID of only digits would read as a number
        # in places that parse it (``docker ps`` sorting, shell scripts).
        if not candidate[:12].isdigit():
            return candidate


def container_key(container_id: str) -> str:
    return CONTAINERS + container_id


def name_key(name: str) -> str:
    """The reservation key of a name, given with or without its leading ``/``."""
    return NAMES + name.removeprefix("/")


@dataclass(frozen=True)
class ContainerRecord:
    """One container as created; change it with :func:`dataclasses.replace`."""

    id: str
    name: str
    """With the leading ``/``, as Docker's inspect shows it."""
    created: str
    """RFC 3339 with nanoseconds, UTC."""
    path: str
    """The executable: the first word of Entrypoint+Cmd."""
    args: tuple[str, ...]
    """The rest of Entrypoint+Cmd."""
    config: Mapping[str, Any]
    """Docker's container Config after the image's defaults were merged in."""
    host_config: Mapping[str, Any]
    """Docker's HostConfig with the daemon's defaults filled in."""
    networking_config: Mapping[str, Any]
    """``EndpointsConfig`` as the client sent it (network name → EndpointSettings)."""
    image_id: str
    """``sha256:<hex>`` of the image the name resolved to at create."""
    image_name: str
    """The image as the client named it (``Config.Image``)."""
    rootfs: str = ""
    """The snapshot's mount point (the runtime's root path)."""
    graph_driver_data: Mapping[str, str] = field(default_factory=dict)
    """overlay2's LowerDir/MergedDir/UpperDir/WorkDir, for inspect's GraphDriver."""
    log_path: str = ""
    resolv_conf_path: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    network_settings: Mapping[str, Any] = field(default_factory=dict)
    """Docker's NetworkSettings, filled by the start path, cleared at stop."""
    mounts: tuple[Mapping[str, Any], ...] = ()
    """Docker's MountPoint objects, as inspect's ``Mounts`` lists them."""
    has_been_started: bool = False
    platform: str = "linux"
    driver: str = "overlay2"
    mount_label: str = ""
    process_label: str = ""
    app_armor_profile: str = ""

    @property
    def key(self) -> str:
        return container_key(self.id)

    @property
    def short_name(self) -> str:
        """The name without its leading ``/``."""
        return self.name.removeprefix("/")

    @property
    def command(self) -> tuple[str, ...]:
        """Entrypoint+Cmd as one argument vector (empty when the container has none)."""
        return (self.path, *self.args) if self.path else self.args


def encode_record(record: ContainerRecord) -> bytes:
    # The fields as they are, not dataclasses.asdict(): that deep-copies every
    # nested Config and HostConfig value first (milliseconds of CPU per write,
    # several writes per docker run), and json.dumps needs no copy.
    data = {name: getattr(record, name) for name in _FIELD_NAMES}
    data["args"] = list(record.args)
    data["mounts"] = [dict(m) for m in record.mounts]
    return dump_record(data)


_FIELD_NAMES = tuple(f.name for f in fields(ContainerRecord))


def decode_record(value: bytes) -> ContainerRecord:
    """Read a ``containers/<id>`` record; fields a newer writer added are ignored."""
    data = load_record(value, "container")
    known = {f.name for f in fields(ContainerRecord)}
    values = {k: v for k, v in data.items() if k in known}
    values["args"] = tuple(values.get("args") or ())
    values["mounts"] = tuple(_mounts(values.get("mounts")))
    return ContainerRecord(**values)


def _mounts(raw: Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    return [dict(m) for m in raw or ()]

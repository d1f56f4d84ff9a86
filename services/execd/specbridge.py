"""From a saved :class:`StartSpec` to the spec builder's inputs.

The only place that knows both shapes: StartSpec is what travels over gRPC and
sits in the bundle; SpecInputs is what :mod:`services.execd.spec` reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.common.config import DaemonConfig
from services.common.errors import InvalidArgument
from services.execd.spec.inputs import MountPoint, SpecInputs
from services.execd.startspec import StartSpec


def mounts_from_json(text: str) -> tuple[MountPoint, ...]:
    try:
        items = json.loads(text or "[]")
    except ValueError:
        raise InvalidArgument("mounts_json is not JSON") from None
    if not isinstance(items, list):
        raise InvalidArgument("mounts_json must be a list")
    mounts = []
    for item in items:
        if not isinstance(item, dict) or not item.get("destination"):
            raise InvalidArgument(f"invalid mount {item!r}: destination is required")
        mounts.append(MountPoint(
            destination=str(item["destination"]),
            source=str(item.get("source", "")),
            type=str(item.get("type", "bind")),
            read_only=bool(item.get("read_only", False)),
            propagation=str(item.get("propagation", "")),
            tmpfs_options=tuple(str(o) for o in item.get("tmpfs_options", ())),
            non_recursive=bool(item.get("non_recursive", False)),
        ))
    return tuple(mounts)


def inputs_from(spec: StartSpec, daemon: DaemonSettings) -> SpecInputs:
    host_config = spec.host_config()
    return SpecInputs(
        container_id=spec.container_id,
        config=spec.config(),
        host_config=host_config,
        image_config=spec.image_config(),
        rootfs=spec.rootfs,
        mounts=mounts_from_json(spec.mounts_json),
        netns_path=spec.netns_path,
        network_mode=spec.network_mode,
        hosts_path=spec.hosts_path,
        hostname_path=spec.hostname_path,
        resolv_conf_path=spec.resolv_conf_path,
        cgroups_path=spec.cgroups_path,
        pid_namespace_path=spec.pid_namespace_path,
        ipc_namespace_path=spec.ipc_namespace_path,
        uts_namespace_path=spec.uts_namespace_path,
        init_path=daemon.init_path if _wants_init(host_config, daemon.init) else "",
        daemon_init=daemon.init,
        default_ulimits=daemon.default_ulimits,
        daemon_no_new_privileges=daemon.no_new_privileges,
        daemon_seccomp_profile=daemon.seccomp_profile,
    )


def _wants_init(host_config: Mapping[str, Any], daemon_init: bool) -> bool:
    init = host_config.get("Init")
    return bool(init) if init is not None else daemon_init


class DaemonSettings:
    """The daemon.json settings the spec depends on (dockerd's keys, kept in ``extra``)."""

    def __init__(self, config: DaemonConfig, init_path: str = "") -> None:
        extra = config.extra
        self.init = bool(extra.get("init", False))
        self.default_ulimits: Mapping[str, Any] = config.default_ulimits
        self.no_new_privileges = bool(extra.get("no-new-privileges", False))
        profile = extra.get("seccomp-profile", "")
        self.seccomp_profile = _read_profile(str(profile)) if profile else ""
        self.init_path = init_path or str(extra.get("init-path", "") or "")


def _read_profile(value: str) -> str:
    """daemon.json seccomp-profile is a path (or "unconfined"); the builder wants the JSON."""
    if value in ("unconfined", "builtin"):
        return "" if value == "builtin" else value
    try:
        with open(value) as f:
            return f.read()
    except OSError as e:
        raise InvalidArgument(f"opening seccomp profile ({value}) failed: {e.strerror}") from e

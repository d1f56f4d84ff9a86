"""What execd needs to (re)start a container, kept in its bundle.

The gateway sends it with StartContainer; execd saves it beside config.json
so restart policies and execd's own restarts can start the container again
without asking anyone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from dockyard.execd.v1 import execd_pb2


@dataclass(frozen=True)
class StartSpec:
    container_id: str
    name: str = ""
    config_json: str = "{}"
    host_config_json: str = "{}"
    image_config_json: str = "{}"
    rootfs: str = ""
    mounts_json: str = "[]"
    netns_path: str = ""
    network_mode: str = "bridge"
    hosts_path: str = ""
    hostname_path: str = ""
    resolv_conf_path: str = ""
    cgroups_path: str = ""
    pid_namespace_path: str = ""
    ipc_namespace_path: str = ""
    uts_namespace_path: str = ""
    log_path: str = ""

    @classmethod
    def from_pb(cls, r: execd_pb2.StartContainerRequest) -> StartSpec:
        return cls(**{f.name: getattr(r, f.name) for f in fields(cls)})

    def to_pb(self, reset_restart_count: bool = True) -> execd_pb2.StartContainerRequest:
        return execd_pb2.StartContainerRequest(
            reset_restart_count=reset_restart_count, **asdict(self)
        )

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> StartSpec:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def config(self) -> dict[str, Any]:
        return _object(self.config_json)

    def host_config(self) -> dict[str, Any]:
        return _object(self.host_config_json)

    def image_config(self) -> dict[str, Any]:
        return _object(self.image_config_json)


def _object(text: str) -> dict[str, Any]:
    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}

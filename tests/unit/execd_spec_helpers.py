"""Inputs for the OCI spec tests: a tiny rootfs with passwd/group and fixed host facts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from services.execd.spec import HostFacts, SpecInputs

CONTAINER_ID = "3f4e5d6c7b8a" + "0" * 52

# A cgroup v1 x86_64 host on kernel 6.1 that knows 41 capabilities.
V1_HOST = HostFacts(
    cgroup2=False, kernel=(6, 1), arch="amd64", last_cap=40,
    has_ping_group_range=True, has_unprivileged_port_start=True, hostname="buildhost",
)
V2_HOST = replace(V1_HOST, cgroup2=True)

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "app:x:1000:1000:app user:/home/app:/bin/sh\n"
    "\n"
    "  nobody:x:65534:65534:nobody:/nonexistent:/bin/false  \n"
)
GROUP = (
    "root:x:0:\n"
    "daemon:x:1:\n"
    "wheel:x:10:root,app\n"
    "app:x:1000:\n"
    "audio:x:29:app\n"
    "nogroup:x:65534:\n"
)

DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]


def make_rootfs(root: Path, passwd: str | None = PASSWD, group: str | None = GROUP) -> Path:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    if passwd is not None:
        (root / "etc" / "passwd").write_text(passwd)
    if group is not None:
        (root / "etc" / "group").write_text(group)
    return root


def make_inputs(
    rootfs: Path,
    config: dict[str, Any] | None = None,
    host_config: dict[str, Any] | None = None,
    image_config: dict[str, Any] | None = None,
    **fields: Any,
) -> SpecInputs:
    fields.setdefault("host", V1_HOST)
    return SpecInputs(
        container_id=CONTAINER_ID,
        config={"Cmd": ["sh"], **(config or {})},
        host_config=host_config or {},
        image_config=image_config or {},
        rootfs=str(rootfs),
        **fields,
    )


def mount_at(spec: dict[str, Any], destination: str) -> dict[str, Any]:
    matches = [m for m in spec["mounts"] if m["destination"] == destination]
    assert len(matches) == 1, f"{len(matches)} mounts at {destination}: {spec['mounts']}"
    found: dict[str, Any] = matches[0]
    return found


def namespace_types(spec: dict[str, Any]) -> list[str]:
    return [ns["type"] for ns in spec["linux"]["namespaces"]]

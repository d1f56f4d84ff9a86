"""Device nodes and the device cgroup rules of a container.

The rules start as moby's DefaultLinuxSpec: deny everything, then allow the
few nodes runc creates (null, zero, urandom, random, tty, console) — /dev/fuse
stays denied. ``--device`` adds the node (read from the host) to
``linux.devices`` and an allow rule with its permissions; a directory adds
every device node below it. Privileged containers get every host device and
an allow-all rule.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument

# Directories of /dev whose nodes are not host devices to copy (runc's HostDevices).
_SKIPPED_DEV_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}


def default_device_rules() -> list[dict[str, Any]]:
    def allow(major: int, minor: int) -> dict[str, Any]:
        return {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}

    return [
        {"allow": False, "access": "rwm"},
        allow(1, 5),   # /dev/zero
        allow(1, 3),   # /dev/null
        allow(1, 9),   # /dev/urandom
        allow(1, 8),   # /dev/random
        allow(5, 0),   # /dev/tty
        allow(5, 1),   # /dev/console
        {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},  # /dev/fuse
    ]


@dataclass(frozen=True)
class DeviceMapping:
    path_on_host: str
    path_in_container: str
    cgroup_permissions: str = "rwm"


def valid_device_mode(mode: str) -> bool:
    """A non-empty combination of r, w and m, each at most once."""
    return bool(mode) and set(mode) <= set("rwm") and len(set(mode)) == len(mode)


def parse_device_spec(spec: str) -> DeviceMapping:
    """``host[:container][:perms]`` as the docker CLI parses ``--device``."""
    parts = spec.split(":", 3)
    if len(parts) > 3:
        raise InvalidArgument(f"invalid device specification: {spec}")
    source, destination, permissions = parts[0], "", "rwm"
    if len(parts) == 3:
        permissions = parts[2]
    if len(parts) >= 2:
        if valid_device_mode(parts[1]):
            permissions = parts[1]
        else:
            destination = parts[1]
    return DeviceMapping(source, destination or source, permissions)


def device_mapping(entry: Mapping[str, Any] | str) -> DeviceMapping:
    """A HostConfig.Devices entry (the API's object, or the CLI's string form), validated."""
    if isinstance(entry, str):
        mapping = parse_device_spec(entry)
    else:
        host = str(entry.get("PathOnHost") or "")
        mapping = DeviceMapping(
            host,
            str(entry.get("PathInContainer") or host),
            str(entry.get("CgroupPermissions") or "rwm"),
        )
    if not mapping.path_on_host.startswith("/"):
        raise InvalidArgument(
            f"invalid device specification: {mapping.path_on_host}: the host path must be absolute"
        )
    if not mapping.path_in_container.startswith("/"):
        raise InvalidArgument(f"{mapping.path_in_container} is not an absolute path")
    if not valid_device_mode(mapping.cgroup_permissions):
        raise InvalidArgument(f"invalid device mode: {mapping.cgroup_permissions}")
    return mapping


def _node(path: str, in_container: str) -> dict[str, Any] | None:
    """The OCI device for the node at ``path``; None when it is not a device node."""
    st = Path(path).lstat()
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    elif stat.S_ISFIFO(st.st_mode):
        kind = "p"
    else:
        return None
    return {
        "path": in_container,
        "type": kind,
        "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev),
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def _rule(device: Mapping[str, Any], access: str) -> dict[str, Any]:
    return {"allow": True, "type": device["type"], "major": device["major"],
            "minor": device["minor"], "access": access}


def devices_from_path(mapping: DeviceMapping) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The nodes and cgroup rules for one ``--device`` (moby's DevicesFromPath)."""
    host_path = os.path.realpath(mapping.path_on_host)
    quoted = json.dumps(mapping.path_on_host)
    try:
        node = _node(host_path, mapping.path_in_container)
    except OSError as error:
        raise InvalidArgument(
            f"error gathering device information while adding custom device {quoted}: "
            f"{error.strerror.lower() if error.strerror else error}"
        ) from None
    if node is not None:
        return [node], [_rule(node, mapping.cgroup_permissions)]
    nodes: list[dict[str, Any]] = []
    if Path(host_path).is_dir():
        for directory, _, files in os.walk(host_path):
            for name in sorted(files):
                path = str(Path(directory, name))
                try:
                    child = _node(path, mapping.path_in_container + path[len(host_path):])
                except OSError:
                    continue
                if child is not None:
                    nodes.append(child)
    if not nodes:
        raise InvalidArgument(
            f"error gathering device information while adding custom device {quoted}: "
            "not a device node"
        )
    return nodes, [_rule(node, mapping.cgroup_permissions) for node in nodes]


def host_devices(dev_root: str = "/dev") -> list[dict[str, Any]]:
    """Every character and block device under ``dev_root`` (what --privileged gets)."""
    found: list[dict[str, Any]] = []
    for directory, dirs, files in os.walk(dev_root):
        dirs[:] = sorted(d for d in dirs if not (directory == dev_root and d in _SKIPPED_DEV_DIRS))
        for name in sorted(files):
            if directory == dev_root and name == "console":
                continue
            path = str(Path(directory, name))
            try:
                if Path(path).is_symlink():
                    continue
                node = _node(path, "/dev" + path[len(dev_root):])
            except OSError:
                continue
            if node is not None and node["type"] != "p":
                found.append(node)
    return found


@dataclass(frozen=True)
class DevicePlan:
    devices: list[dict[str, Any]]
    rules: list[dict[str, Any]]


def build_devices(
    entries: Iterable[Mapping[str, Any] | str],
    cgroup_rules: Iterable[str],
    privileged: bool,
    dev_root: str = "/dev",
) -> DevicePlan:
    mappings = [device_mapping(entry) for entry in entries]
    if privileged:
        devices = host_devices(dev_root)
        for mapping in mappings:
            # The same path is already there, from the host's /dev.
            if mapping.path_on_host == mapping.path_in_container:
                continue
            nodes, _ = devices_from_path(DeviceMapping(
                mapping.path_on_host, mapping.path_in_container, "rwm"))
            devices += nodes
        return DevicePlan(devices, [{"allow": True, "access": "rwm"}])
    devices = []
    rules = default_device_rules()
    for mapping in mappings:
        nodes, node_rules = devices_from_path(mapping)
        devices += nodes
        rules += node_rules
    rules += [parse_cgroup_rule(rule) for rule in cgroup_rules]
    return DevicePlan(devices, rules)


_CGROUP_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")


def parse_cgroup_rule(rule: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'c 1:3 mr'`` → an allow rule; ``*`` (any) is -1, as in moby."""
    match = _CGROUP_RULE.fullmatch(rule)
    if match is None:
        raise InvalidArgument(f"invalid device cgroup rule format: '{rule}'")
    kind, major, minor, access = match.groups()
    return {
        "allow": True,
        "type": kind,
        "major": -1 if major == "*" else int(major),
        "minor": -1 if minor == "*" else int(minor),
        "access": access,
    }

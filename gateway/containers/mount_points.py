"""Inspect's ``Mounts``: Docker's MountPoint objects for the binds, volumes and tmpfs asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.containers.validation import parse_bind


def volume_path(data_root: str, name: str) -> str:
    """Where the local volume driver keeps a volume's data."""
    return f"{data_root}/volumes/{name}/_data"


def mount_points(host_config: Mapping[str, Any], data_root: str) -> tuple[dict[str, Any], ...]:
    """MountPoints of ``Binds`` (``-v``) then ``Mounts`` (``--mount``), as dockerd lists them.

    Anonymous volumes (the image's VOLUMEs, ``-v /path``) are added by create
    once it has made them (:mod:`gateway.containers.create_volumes`).
    """
    points: list[dict[str, Any]] = []
    for raw in host_config.get("Binds") or ():
        spec = parse_bind(str(raw))
        if spec.is_bind:
            points.append({
                "Type": "bind", "Source": spec.source, "Destination": spec.target,
                "Mode": spec.mode, "RW": not spec.read_only, "Propagation": spec.propagation,
            })
        else:
            points.append({
                "Type": "volume", "Name": spec.source,
                "Source": volume_path(data_root, spec.source), "Destination": spec.target,
                "Driver": "local", "Mode": spec.mode or "z", "RW": not spec.read_only,
                "Propagation": "",
            })
    for mount in host_config.get("Mounts") or ():
        kind = str(mount.get("Type", ""))
        read_only = bool(mount.get("ReadOnly"))
        point: dict[str, Any] = {"Type": kind}
        if kind == "volume":
            name = str(mount.get("Source") or "")
            driver = (mount.get("VolumeOptions") or {}).get("DriverConfig") or {}
            point.update({"Name": name, "Source": volume_path(data_root, name) if name else "",
                          "Driver": driver.get("Name") or "local"})
        else:
            point["Source"] = str(mount.get("Source") or "")
        propagation = ""
        if kind == "bind":
            propagation = (mount.get("BindOptions") or {}).get("Propagation") or "rprivate"
        point.update({"Destination": str(mount.get("Target", "")), "Mode": "",
                      "RW": not read_only, "Propagation": propagation})
        points.append(point)
    return tuple(points)

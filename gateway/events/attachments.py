"""What a container's start joins and its stop leaves: ``network connect``/``disconnect``
and ``volume mount``/``unmount``, as dockerd reports them around start and die.

Several paths give back a stopped container's parts (stop, the watcher after
an exit, removal), so the leaving events go out once per start: the start
marks the container, the first release that finds the mark reports.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gateway.events import emit
from services.netd.models import BRIDGE

# Containers started by this gateway whose leaving events are still to come.
_joined: set[str] = set()


def _networks(record: Any) -> Iterator[tuple[str, str]]:
    """(network ID, name) of each network the container has an endpoint in."""
    networks = (record.network_settings or {}).get("Networks") or {}
    for name, settings in networks.items():
        if isinstance(settings, Mapping) and settings.get("NetworkID"):
            yield str(settings["NetworkID"]), str(name)


def _volumes(record: Any) -> Iterator[Mapping[str, Any]]:
    for mount in record.mounts:
        if mount.get("Type") == "volume" and mount.get("Name"):
            yield mount


def emit_joined(record: Any) -> None:
    """After a start: a connect per network (endpoints exist on bridge networks only)."""
    _joined.add(record.id)
    for network_id, name in _networks(record):
        emit("network", "connect", network_id,
             {"container": record.id, "name": name, "type": BRIDGE})
    for mount in _volumes(record):
        emit("volume", "mount", str(mount["Name"]), {
            "container": record.id, "destination": str(mount.get("Destination", "")),
            "driver": str(mount.get("Driver") or "local"),
            "propagation": str(mount.get("Propagation", "")),
            "read/write": "true" if mount.get("RW", True) else "false",
        })


def emit_left(record: Any) -> None:
    """When the parts of a stopped container are given back: once per start."""
    if record.id not in _joined:
        return
    _joined.discard(record.id)
    for network_id, name in _networks(record):
        emit("network", "disconnect", network_id,
             {"container": record.id, "name": name, "type": BRIDGE})
    for mount in _volumes(record):
        emit("volume", "unmount", str(mount["Name"]),
             {"container": record.id, "driver": str(mount.get("Driver") or "local")})

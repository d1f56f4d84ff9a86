"""What a container's start joins and its stop leaves: ``network connect``/``disconnect``
and ``volume mount``/``unmount``, as dockerd reports them around start and die.

A start that fails reports what dockerd's cleanup of it does (:func:`emit_failed_start`).

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


def volume_mounts(record: Any) -> Iterator[Mapping[str, Any]]:
    """The container's mounts (inspect's Mounts) that are named volumes."""
    for mount in record.mounts:
        if mount.get("Type") == "volume" and mount.get("Name"):
            yield mount


def emit_volume_mounted(container_id: str, mount: Mapping[str, Any]) -> None:
    """A volume mounted for the container: its start, or a docker cp."""
    emit("volume", "mount", str(mount["Name"]), {
        "container": container_id, "destination": str(mount.get("Destination", "")),
        "driver": str(mount.get("Driver") or "local"),
        "propagation": str(mount.get("Propagation", "")),
        "read/write": "true" if mount.get("RW", True) else "false",
    })


def emit_volume_unmounted(container_id: str, mount: Mapping[str, Any]) -> None:
    emit("volume", "unmount", str(mount["Name"]),
         {"container": container_id, "driver": str(mount.get("Driver") or "local")})


def emit_joined(record: Any) -> None:
    """After a start: a connect per network (endpoints exist on bridge networks only)."""
    _joined.add(record.id)
    for network_id, name in _networks(record):
        emit("network", "connect", network_id,
             {"container": record.id, "name": name, "type": BRIDGE})
    for mount in volume_mounts(record):
        emit_volume_mounted(record.id, mount)


def emit_left(record: Any) -> None:
    """When the parts of a stopped container are given back: once per start."""
    if record.id not in _joined:
        return
    _joined.discard(record.id)
    _emit_leaving(record, networks=True)


def _emit_leaving(record: Any, *, networks: bool) -> None:
    if networks:
        for network_id, name in _networks(record):
            emit("network", "disconnect", network_id,
                 {"container": record.id, "name": name, "type": BRIDGE})
    for mount in volume_mounts(record):
        emit_volume_unmounted(record.id, mount)


def emit_failed_start(record: Any, *, joined: bool, had_sandbox: bool) -> None:
    """What dockerd's cleanup of a start that failed reports: never ``start`` nor ``die``
    (no process ran), but its networks and volumes as far as the start got.

    ``joined``: everything was ready and the process itself failed (a command not
    found): a connect per network and a mount per volume went out, as for a start,
    then their disconnects and unmounts. ``had_sandbox``: the sandbox was made, or
    failed only at joining its networks (a published port already taken): dockerd
    had made its sandbox and reports a disconnect per network even with no connect
    before. Every volume gets its unmount whatever failed, mounted or not.
    """
    if joined:
        emit_joined(record)
        emit_left(record)
        return
    _emit_leaving(record, networks=had_sandbox)

"""``POST /containers/create``: validate, resolve the image, record, snapshot.

The steps follow dockerd's order so a body with several problems reports the
one dockerd would. Each step that made something is undone when a later one
fails (or the request is cancelled): no record, name or snapshot is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.backends import Backends
from gateway.containers.create_volumes import VolumeHolder, hold_volumes
from gateway.containers.mount_points import mount_points
from gateway.containers.names import check_name, generated_name
from gateway.containers.network_settings import BUILTIN_MODES, initial_network_settings
from gateway.containers.networking import initial_endpoints_config
from gateway.containers.records import ContainerRecord, new_container_id
from gateway.containers.settings import (
    command_of,
    default_hostname,
    fill_host_config,
    merge_image_config,
)
from gateway.containers.store import ContainerStore
from gateway.containers.times import rfc3339_nano
from gateway.containers.validation import (
    HostLimits,
    validate_config,
    validate_host_config,
    validate_networking_config,
)
from gateway.versioning import compare
from services.common.config import DaemonConfig
from services.common.errors import Conflict, InvalidArgument, NotFound
from services.common.timing import timed
from services.imaged.models import ImageDetails

log = logging.getLogger(__name__)

GENERATED_NAME_ATTEMPTS = 6
"""Random names tried before falling back to the short ID, as dockerd."""


@dataclass(frozen=True)
class CreateRequest:
    """A decoded create body plus its query: what the client asked for."""

    name: str
    config: Mapping[str, Any]
    host_config: Mapping[str, Any]
    networking_config: Mapping[str, Any]
    api_version: str


def decode_body(body: Any, name: str, api_version: str) -> CreateRequest:
    """Split the create body into Config, HostConfig and NetworkingConfig."""
    if not isinstance(body, dict):
        raise InvalidArgument("Config cannot be empty in order to create a container")
    host_config = body.get("HostConfig") or {}
    networking = body.get("NetworkingConfig") or {}
    if not isinstance(host_config, dict) or not isinstance(networking, dict):
        raise InvalidArgument("invalid JSON: HostConfig and NetworkingConfig must be objects")
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    return CreateRequest(name, config, host_config, networking, api_version)


async def create_container(
    backends: Backends, daemon: DaemonConfig, limits: HostLimits, request: CreateRequest
) -> str:
    """Create the container; return its ID. Shielded: a client hang-up cannot cut it short."""
    return await asyncio.shield(_create(backends, daemon, limits, request))


async def _create(
    backends: Backends, daemon: DaemonConfig, limits: HostLimits, request: CreateRequest
) -> str:
    validate_config(request.config)
    validate_host_config(request.host_config, limits)
    if str(request.host_config.get("NetworkMode") or "").startswith("container:") and (
            request.config.get("Hostname")):
        # dockerd's validateNetContainerMode: the joined container's name is taken.
        raise InvalidArgument("conflicting options: hostname and the network mode")
    image_ref = str(request.config.get("Image") or "")
    if not image_ref:
        raise InvalidArgument("No command specified" if not request.config.get("Cmd")
                              else "an image is required to create a container")
    image = await backends.images.inspect_image(image_ref)
    validate_networking_config(request.networking_config)
    # The CLI names the default network "default" (NetworkMode's name for it): it is "bridge".
    endpoints = {"bridge" if name == "default" else name: settings for name, settings
                 in (request.networking_config.get("EndpointsConfig") or {}).items()}
    if len(endpoints) > 1 and compare(request.api_version, "1.44") < 0:
        names = ", ".join(endpoints)
        raise InvalidArgument(f"Container cannot be connected to network endpoints: {names}")
    host_config = fill_host_config(request.host_config, daemon, request.api_version)
    network_ids = await _resolve_networks(backends, host_config, endpoints)
    config = merge_image_config(request.config, (image.config.get("config") or {}))
    path, args = command_of(config)
    containers = backends.containers
    record = ContainerRecord(
        id=new_container_id(), name="", created=rfc3339_nano(), path=path, args=args,
        config=config, host_config=host_config,
        networking_config=initial_endpoints_config(host_config["NetworkMode"], endpoints),
        image_id=image.id, image_name=image_ref,
        network_settings=initial_network_settings(host_config["NetworkMode"], endpoints,
                                                  network_ids),
        mounts=mount_points(host_config, daemon.data_root),
    )
    if host_config["LogConfig"]["Type"] == "json-file":
        # Where execd's conmon writes it (services/execd/layout.py); dockerd names
        # the json-file's path only, and shows it once the container has started.
        record = replace(record, log_path=(
            f"{daemon.data_root}/containers/{record.id}/{record.id}-json.log"))
    if not config.get("Hostname"):
        hostname = default_hostname(record.id, host_config["NetworkMode"])
        record = replace(record, config={**config, "Hostname": hostname})
    # Marked before the record exists: a catch-up that reads it half-made must
    # know it is being made (see watcher.py).
    containers.in_making.add(record.id)
    try:
        with timed("gateway.create_reserve"):
            record = await _reserve(containers, record, request.name)
        return await _make(backends, daemon, containers, record, image, config, host_config)
    finally:
        containers.in_making.discard(record.id)


async def _make(
    backends: Backends, daemon: DaemonConfig, containers: ContainerStore,
    record: ContainerRecord, image: ImageDetails, config: dict[str, Any],
    host_config: dict[str, Any],
) -> str:
    """The reserved record's snapshot and volumes, then the record completed."""
    try:
        snapshot = await backends.images.prepare_snapshot(record.id, image.id)
    except BaseException:
        await _forget(containers, record.id)
        raise
    anonymous: tuple[dict[str, Any], ...] = ()
    try:
        if backends.volumes is not None:
            anonymous = await hold_volumes(record.id, config, host_config, backends.volumes,
                                           daemon.data_root)
    except BaseException:
        with contextlib.suppress(Exception):
            await backends.images.remove_snapshot(record.id)
        await _forget(containers, record.id)
        raise
    try:
        with timed("gateway.create_record"):
            await containers.update(record.id, lambda r: replace(
                r, rootfs=str(snapshot.rootfs), mounts=r.mounts + anonymous,
                graph_driver_data=graph_driver_data(snapshot.rootfs, image.graph_driver),
            ))
    except BaseException:
        # The update may have landed all the same (etcd gone mid-call): what the
        # record may point at is given back only once the record is gone, else
        # it stays whole for `docker rm` (or the watcher's catch-up) to remove.
        if await _forget(containers, record.id):
            if backends.volumes is not None:
                await _give_back_volumes(backends.volumes, record, anonymous)
            with contextlib.suppress(Exception):
                await backends.images.remove_snapshot(record.id)
        raise
    return record.id


async def _give_back_volumes(
    volumes: VolumeHolder, record: ContainerRecord, anonymous: tuple[dict[str, Any], ...]
) -> None:
    """Undo of :func:`hold_volumes` once it succeeded: release all, remove the anonymous."""
    for point in (*record.mounts, *anonymous):
        if point.get("Type") == "volume" and point.get("Name"):
            with contextlib.suppress(Exception):
                await volumes.release_volume(str(point["Name"]), record.id)
    for point in anonymous:
        with contextlib.suppress(Exception):
            await volumes.remove_volume(str(point["Name"]))


async def _resolve_networks(
    backends: Backends, host_config: dict[str, Any], endpoints: Mapping[str, Any]
) -> dict[str, str]:
    """Check every network named exists (404 as netd words it); name → ID for user networks.

    ``container:<ref>`` is rewritten to the container's ID as dockerd does, so
    a rename of the other container does not break the link.
    """
    mode = str(host_config["NetworkMode"])
    kind, _, ref = mode.partition(":")
    if kind == "container":
        if not ref:
            raise InvalidArgument(
                "Invalid network mode: invalid container format container:<name|id>"
            )
        with contextlib.suppress(NotFound):
            host_config["NetworkMode"] = "container:" + (await backends.containers.get(ref)).id
    ids: dict[str, str] = {}
    names = [] if kind == "container" else [mode]
    for name in [*names, *endpoints]:
        if name in BUILTIN_MODES or name in ids:
            continue
        network = await backends.networks.inspect_network(name)
        ids[name] = network.id
    return ids


async def _reserve(
    containers: ContainerStore, record: ContainerRecord, name: str
) -> ContainerRecord:
    if name:
        named = replace(record, name=check_name(name))
        await containers.create(named)
        return named
    for attempt in range(GENERATED_NAME_ATTEMPTS):
        named = replace(record, name=generated_name(attempt))
        try:
            await containers.create(named)
            return named
        except Conflict:
            continue
    named = replace(record, name="/" + record.id[:12])
    await containers.create(named)
    return named


async def _forget(containers: ContainerStore, container_id: str) -> bool:
    """Undo the record and its name; whether it is gone. Logged, never raised, so the
    first error is reported."""
    try:
        await asyncio.shield(containers.delete(container_id))
    except NotFound:
        pass
    except Exception:
        log.exception("could not remove the record of failed create %s", container_id)
        return False
    return True


def graph_driver_data(rootfs: Path, image_data: Mapping[str, str]) -> dict[str, str]:
    """overlay2's GraphDriver.Data of a container: its own dirs over the image's layers."""
    base = rootfs.parent
    lowers = [d for d in (image_data.get("UpperDir", ""), image_data.get("LowerDir", "")) if d]
    data = {"MergedDir": str(rootfs), "UpperDir": str(base / "diff"),
            "WorkDir": str(base / "work")}
    if lowers:
        data["LowerDir"] = ":".join(lowers)
    return dict(sorted(data.items()))

"""``docker network connect/disconnect``: netd changes a running container's sandbox,
the record keeps the networks a container joins at its next start.

The record's ``networking_config`` (network name → EndpointSettings) plays
dockerd's NetworkSettings.Networks: what the start path joins
(:func:`gateway.containers.networking.endpoints_config`). A running container
is changed in netd first, then in the record (undone in netd when the record
cannot be written); a stopped one only in the record, after netd checked the
join without reserving anything. Rules and words are dockerd's
(daemon/container_operations.go).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway.backends import Backends
from gateway.containers.lifecycle import read_state
from gateway.containers.networking import endpoints_config, network_mode, network_settings
from gateway.containers.records import ContainerRecord
from gateway.containers.validation import validate_networking_config
from services.common.errors import DockyardError, Forbidden, InvalidArgument, NotFound
from services.execd.models import PAUSED, RUNNING
from services.netd.models import HOST, NULL, EndpointRequest, Network, Sandbox

ERR_SHARED_NETWORK = ("container sharing network namespace with another container or host "
                      "cannot be connected to any other network")
ERR_HOST_NETWORK = ("container cannot be disconnected from host network or connected to host "
                    "network")
ERR_NONE_NETWORK = ("container cannot be connected to multiple networks with one of the "
                    "networks in private (none) mode")

OPERATIONAL_FIELDS = ("NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen",
                      "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "DNSNames")
"""EndpointSettings fields the daemon fills in; a client's values for them are dropped."""


@dataclass(frozen=True)
class ConnectRequest:
    """A NetworkConnectRequest body."""

    container: str
    settings: Mapping[str, Any]
    """EndpointSettings as the client sent them, without the operational fields."""


@dataclass(frozen=True)
class DisconnectRequest:
    """A NetworkDisconnectRequest body."""

    container: str
    force: bool = False


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid {key}: expected a string")
    return value


def _strings(settings: Mapping[str, Any], key: str) -> None:
    value = settings.get(key)
    if value is not None and (not isinstance(value, list)
                              or not all(isinstance(v, str) for v in value)):
        raise InvalidArgument(f"invalid EndpointConfig.{key}: expected a list of strings")


def parse_connect(body: Any) -> ConnectRequest:
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    settings = body.get("EndpointConfig") or {}
    if not isinstance(settings, dict):
        raise InvalidArgument("invalid EndpointConfig: expected an object")
    _strings(settings, "Aliases")
    _strings(settings, "Links")
    _text(settings, "MacAddress")
    if not isinstance(settings.get("IPAMConfig") or {}, dict):
        raise InvalidArgument("invalid EndpointConfig.IPAMConfig: expected an object")
    validate_networking_config({"EndpointsConfig": {"endpoint": settings}})
    kept = {k: v for k, v in settings.items() if k not in OPERATIONAL_FIELDS}
    return ConnectRequest(container=_text(body, "Container"), settings=kept)


def parse_disconnect(body: Any) -> DisconnectRequest:
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    force = body.get("Force") or False
    if not isinstance(force, bool):
        raise InvalidArgument("invalid Force: expected true or false")
    return DisconnectRequest(container=_text(body, "Container"), force=force)


def endpoint_request(network: Network, settings: Mapping[str, Any]) -> EndpointRequest:
    ipam = settings.get("IPAMConfig") or {}
    if ipam.get("IPv6Address"):
        raise InvalidArgument("invalid endpoint settings:\nno configured subnet contains IP "
                              f"address {ipam['IPv6Address']}")
    return EndpointRequest(
        network=network.id,
        ipv4_address=str(ipam.get("IPv4Address") or ""),
        aliases=tuple(settings.get("Aliases") or ()),
        mac_address=str(settings.get("MacAddress") or ""),
        links=tuple(settings.get("Links") or ()),
    )


def check_join(mode: str, joined: list[Network], network: Network) -> bool:
    """dockerd's checks of a join; True when the container is on that network already."""
    if mode.startswith("container:"):
        raise InvalidArgument(ERR_SHARED_NETWORK)
    if mode != HOST and network.driver == HOST:
        raise InvalidArgument(ERR_HOST_NETWORK)
    for other in joined:
        if other.id == network.id:
            return True
        if HOST in (other.driver, network.driver):
            raise InvalidArgument(ERR_SHARED_NETWORK)
        if NULL in (other.driver, network.driver):
            raise InvalidArgument(ERR_NONE_NETWORK)
    return False


def _lock(backends: Backends, container_id: str) -> contextlib.AbstractAsyncContextManager[Any]:
    """The lifecycle's per-container lock: a start never reads half a change."""
    if backends.lifecycle is None:
        return contextlib.nullcontext()
    return backends.lifecycle.lock(container_id)


async def _running(backends: Backends, container_id: str) -> bool:
    return (await read_state(backends.store, container_id)).status in (RUNNING, PAUSED)


async def _network_of(backends: Backends, key: str) -> Network | None:
    with contextlib.suppress(NotFound, InvalidArgument):
        return await backends.networks.inspect_network(key)
    return None


async def _recorded_networks(backends: Backends, record: ContainerRecord
                             ) -> dict[str, Network | None]:
    """The record's networks by the key they are recorded under (None: since removed)."""
    keys = list(endpoints_config(record))
    mode = network_mode(record)
    if mode in (HOST, "none") and mode not in keys:
        keys.append(mode)
    return {key: await _network_of(backends, key) for key in keys}


async def _recorded_ids(backends: Backends, record: ContainerRecord) -> dict[str, str]:
    """Network ID of each recorded key that still names a network."""
    return {k: n.id for k, n in (await _recorded_networks(backends, record)).items()
            if n is not None}


def _stopped_change(change: Callable[[dict[str, Any]], None]
                    ) -> Callable[[ContainerRecord], ContainerRecord]:
    """A record change of a stopped container: its networks, and the view of them."""
    def apply(current: ContainerRecord) -> ContainerRecord:
        configured = endpoints_config(current)
        change(configured)
        updated = replace(current, networking_config=configured)
        return replace(updated, network_settings=network_settings(updated, None))
    return apply


def _running_change(sandbox: Sandbox, ids: Mapping[str, str],
                    added: tuple[Network, Mapping[str, Any]] | None = None
                    ) -> Callable[[ContainerRecord], ContainerRecord]:
    """A record change of a running container: its networks become the sandbox's, each
    with the settings recorded for it (``ids``: recorded key → network ID)."""
    def apply(current: ContainerRecord) -> ContainerRecord:
        by_id = {ids[k]: v for k, v in endpoints_config(current).items() if k in ids}
        if added is not None:
            by_id[added[0].id] = added[1]
        configured = {e.network_name: dict(by_id.get(e.network_id) or {})
                      for e in sandbox.endpoints}
        updated = replace(current, networking_config=configured)
        return replace(updated, network_settings=network_settings(updated, sandbox))
    return apply


# ---- connect ----------------------------------------------------------------------------


class _NoSandbox(Exception):
    """netd has no sandbox for a container thought running (it has just stopped)."""


async def connect(backends: Backends, network_ref: str, request: ConnectRequest) -> None:
    record = await backends.containers.get(request.container)
    async with _lock(backends, record.id):
        if await _running(backends, record.id):
            try:
                await _connect_running(backends, record, network_ref, request.settings)
                return
            except _NoSandbox:
                pass
        await _connect_stopped(backends, record, network_ref, request.settings)


async def _connect_running(backends: Backends, record: ContainerRecord, network_ref: str,
                           settings: Mapping[str, Any]) -> None:
    mode = network_mode(record)
    if mode.startswith("container:"):
        raise InvalidArgument(ERR_SHARED_NETWORK)
    network = await backends.networks.inspect_network(network_ref)
    sandbox = await _sandbox_of(backends, record.id)
    joined = [n for n in [await _network_of(backends, e.network_id) for e in sandbox.endpoints]
              if n is not None]
    if mode in (HOST, "none"):
        joined += [n for n in [await _network_of(backends, mode)] if n is not None]
    if check_join(mode, joined, network):
        raise Forbidden(f"endpoint with name {record.short_name} already exists in network "
                        f"{network.name}")
    ids = await _recorded_ids(backends, record)
    try:
        sandbox = await backends.networks.connect_container(
            record.id, endpoint_request(network, settings))
    except NotFound:
        await _sandbox_of(backends, record.id)
        raise
    try:
        await backends.containers.update(
            record.id, _running_change(sandbox, ids, (network, settings)))
    except BaseException:
        with contextlib.suppress(DockyardError):
            await backends.networks.disconnect_container(record.id, network.id, force=True)
        raise


async def _connect_stopped(backends: Backends, record: ContainerRecord, network_ref: str,
                           settings: Mapping[str, Any]) -> None:
    mode = network_mode(record)
    network = await backends.networks.inspect_network(network_ref)
    recorded = [n for n in (await _recorded_networks(backends, record)).values()
                if n is not None]
    if check_join(mode, recorded, network):
        return  # as dockerd: recording the same network twice is not an error
    await backends.networks.check_endpoint(endpoint_request(network, settings),
                                           tuple(n.id for n in recorded))

    def add(configured: dict[str, Any]) -> None:
        configured[network.name] = dict(settings)

    await backends.containers.update(record.id, _stopped_change(add))


# ---- disconnect -------------------------------------------------------------------------


async def disconnect(backends: Backends, network_ref: str, request: DisconnectRequest) -> None:
    record = await backends.containers.get(request.container)
    async with _lock(backends, record.id):
        try:
            network: Network | None = await backends.networks.inspect_network(network_ref)
        except NotFound:
            if not request.force:
                raise
            network = None
        if network is not None and network.driver == HOST:
            raise InvalidArgument(ERR_HOST_NETWORK)
        if network is not None and await _running(backends, record.id):
            try:
                await _disconnect_running(backends, record, network, request.force)
                return
            except _NoSandbox:
                pass
        await _disconnect_stopped(backends, record, network_ref, network)


async def _sandbox_of(backends: Backends, container_id: str) -> Sandbox:
    try:
        return await backends.networks.get_sandbox(container_id)
    except NotFound:
        raise _NoSandbox() from None


async def _disconnect_running(backends: Backends, record: ContainerRecord, network: Network,
                              force: bool) -> None:
    ids = await _recorded_ids(backends, record)
    try:
        sandbox = await backends.networks.disconnect_container(record.id, network.id, force)
    except NotFound:
        await _sandbox_of(backends, record.id)
        raise
    await backends.containers.update(record.id, _running_change(sandbox, ids))


async def _disconnect_stopped(backends: Backends, record: ContainerRecord, network_ref: str,
                              network: Network | None) -> None:
    recorded = await _recorded_networks(backends, record)
    if network is None:  # forced, the network is gone: drop what is recorded under its name
        keys = {k for k in recorded if k == network_ref}
    else:
        keys = {k for k, n in recorded.items() if n is not None and n.id == network.id}
    if not keys:
        name = network.name if network is not None else network_ref
        raise Forbidden(f"container {record.id} is not connected to the network {name}")

    def remove(configured: dict[str, Any]) -> None:
        for key in keys:
            configured.pop(key, None)

    await backends.containers.update(record.id, _stopped_change(remove))


# ---- rename -------------------------------------------------------------------------------


async def follow_rename(backends: Backends, renamed: ContainerRecord) -> None:
    """After ``docker rename``: a running container's DNS names become the new name's.

    A container without a sandbox (not running) has nothing to change: its next
    start names its endpoints from the record.
    """
    try:
        sandbox = await backends.networks.rename_sandbox(renamed.id, renamed.short_name)
    except NotFound:
        return

    def view(current: ContainerRecord) -> ContainerRecord:
        return replace(current, network_settings=network_settings(current, sandbox))

    await backends.containers.update(renamed.id, view)

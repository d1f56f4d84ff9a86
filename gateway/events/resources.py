"""Network and volume events, with dockerd's attributes (name and type; driver)."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from gateway.events import emit
from services.common.errors import DockyardError


class NetworkInspector(Protocol):
    async def inspect_network(self, ref: str) -> Any: ...


class Attachments(Protocol):
    @property
    def networks(self) -> Any: ...
    @property
    def containers(self) -> Any: ...


def emit_network(network: Any, action: str, **extra: str) -> None:
    emit("network", action, network.id, {**extra, "name": network.name, "type": network.driver})


async def network_of(networks: NetworkInspector, ref: str) -> Any:
    """The network ``ref`` names, or None (read before a removal, to report it after)."""
    with contextlib.suppress(DockyardError):
        return await networks.inspect_network(ref)
    return None


async def emit_attachment(
    backends: Attachments, network_ref: str, container_ref: str, action: str
) -> None:
    """``connect``/``disconnect``: the network is the actor, the container an attribute."""
    network = await network_of(backends.networks, network_ref)
    container_id = container_ref
    with contextlib.suppress(DockyardError):
        container_id = str((await backends.containers.get(container_ref)).id)
    if network is not None:
        emit_network(network, action, container=container_id)


def emit_volume(name: str, action: str, driver: str = "local", **extra: str) -> None:
    emit("volume", action, name, {**extra, "driver": driver or "local"})

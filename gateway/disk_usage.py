"""``GET /system/df``: what images, containers and volumes hold on disk.

Layer sizes come from imaged's layer and image records in etcd (the gateway
reads them, imaged alone writes them): an image's ``SharedSize`` is the size of
its layers that another listed image also uses, ``LayersSize`` the size of
every layer once. Containers are ``docker ps -a -s``; a volume's ``UsageData``
is the size of its directory and the number of containers that use it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.backends import Backends
from gateway.containers.list_filters import ListOptions
from gateway.containers.listing import list_containers
from gateway.containers.sizes import tree_size
from gateway.image_views import summary_json
from gateway.volume_views import volume_json
from services.common.errors import InvalidArgument
from services.imaged.records import IMAGES, LAYERS, ImageRecord, LayerRecord

KINDS = ("container", "image", "volume", "build-cache")
"""The ``type`` values dockerd accepts, in the order the answer lists them."""

LOCAL_DRIVER = "local"


def requested_kinds(values: Sequence[str]) -> frozenset[str]:
    """The ``type`` query values (all kinds when none); an unknown one is a 400 as in dockerd."""
    for value in values:
        if value not in KINDS:
            raise InvalidArgument(f"unknown object type: {value}")
    return frozenset(values or KINDS)


def shared_sizes(
    images: Mapping[str, Sequence[str]], layer_sizes: Mapping[str, int]
) -> dict[str, int]:
    """Per image ID, the bytes of its layers that at least one other image also uses.

    ``images`` maps an image ID to its layers' chain IDs; ``layer_sizes`` a chain ID
    to its size.
    """
    users = Counter(chain for chains in images.values() for chain in set(chains))
    return {
        image_id: sum(layer_sizes.get(c, 0) for c in set(chains) if users[c] > 1)
        for image_id, chains in images.items()
    }


async def _image_usage(backends: Backends, version: str) -> tuple[int, list[dict[str, Any]]]:
    summaries, image_entries, layer_entries, records = await asyncio.gather(
        backends.images.list_images(),
        backends.store.get_prefix(IMAGES),
        backends.store.get_prefix(LAYERS),
        backends.containers.list(),
    )
    image_records = [ImageRecord.decode(e.value) for e in image_entries]
    layer_sizes = {
        layer.chain_id: layer.size
        for layer in (LayerRecord.decode(e.value) for e in layer_entries)
    }
    listed = {s.id for s in summaries}
    chains = {r.id: r.layers for r in image_records if r.id in listed}
    shared = shared_sizes(chains, layer_sizes)
    containers = Counter(record.image_id for record in records)
    out = []
    for summary in summaries:
        row = summary_json(summary, version)
        row["SharedSize"] = shared.get(summary.id, 0)
        row["Containers"] = containers.get(summary.id, 0)
        out.append(row)
    return sum(layer_sizes.values()), out


async def _volume_usage(backends: Backends) -> list[dict[str, Any]]:
    if backends.volumes is None:
        return []
    out = []
    for volume in await backends.volumes.list_volumes():
        row = volume_json(volume)
        size = await tree_size(volume.mountpoint) if volume.driver == LOCAL_DRIVER else -1
        row["UsageData"] = {"Size": size, "RefCount": len(volume.users)}
        out.append(row)
    return out


async def disk_usage(backends: Backends, kinds: frozenset[str], version: str) -> dict[str, Any]:
    """The SystemDataUsageResponse; kinds not asked for are ``null`` as in dockerd."""
    out: dict[str, Any] = {
        "LayersSize": 0, "Images": None, "Containers": None, "Volumes": None, "BuildCache": None,
    }
    if "image" in kinds:
        out["LayersSize"], out["Images"] = await _image_usage(backends, version)
    if "container" in kinds:
        out["Containers"] = await list_containers(
            backends, ListOptions(all=True, size=True))
    if "volume" in kinds:
        out["Volumes"] = await _volume_usage(backends)
    if "build-cache" in kinds:
        out["BuildCache"] = []  # only the classic builder, which keeps no cache
    return out

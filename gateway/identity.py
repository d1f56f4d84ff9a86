"""The engine's stable ID, ``docker info``'s ``ID``.

Generated once per cluster and kept in etcd, so it survives restarts and every
gateway of the cluster reports the same one. dockerd uses a UUID since 23.0.
"""

from __future__ import annotations

import uuid

from gateway.backends import KeyValueStore
from services.common.errors import Internal

ENGINE_ID_KEY = "engine/id"


async def ensure_engine_id(store: KeyValueStore) -> str:
    """The stored ID; a new one stored first when there is none yet."""
    existing = await store.get(ENGINE_ID_KEY)
    if existing is not None:
        return existing.value.decode()
    candidate = str(uuid.uuid4())
    if await store.create(ENGINE_ID_KEY, candidate.encode()):
        return candidate
    # Another gateway created it between our read and our create: theirs wins.
    winner = await store.get(ENGINE_ID_KEY)
    if winner is None:
        raise Internal(f"etcd key {ENGINE_ID_KEY} vanished right after it was created")
    return winner.value.decode()

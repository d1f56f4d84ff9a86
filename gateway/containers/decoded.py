"""Decoded store values, kept while their entry's ``mod_revision`` is unchanged.

``docker ps`` over hundreds of containers and polling ``docker inspect`` read
the same runtime states and health results again and again; decoding their
JSON each time would cost more than the rest of the read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from services.common.etcd_store import Entry

T = TypeVar("T")

LIMIT = 16384
"""Entries kept at most; beyond it the cache starts over (containers come and go)."""


class DecodedEntries(Generic[T]):
    def __init__(self, decode: Callable[[bytes], T]) -> None:
        self._decode = decode
        self._kept: dict[str, tuple[int, T]] = {}

    def of(self, entry: Entry) -> T:
        """``entry`` decoded; errors of the decoder are raised, never kept."""
        kept = self._kept.get(entry.key)
        if kept is not None and kept[0] == entry.mod_revision:
            return kept[1]
        value = self._decode(entry.value)
        if len(self._kept) >= LIMIT:
            self._kept.clear()
        self._kept[entry.key] = (entry.mod_revision, value)
        return value

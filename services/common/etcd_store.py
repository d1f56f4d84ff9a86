"""The etcd store every service keeps its durable state in.

Keys live under ``/dockyard/v1/<kind>/<id>``; callers pass the part after the
prefix. Writes that must not race use :meth:`Store.put_if` (compare on
``mod_revision``) or :meth:`Store.create` (compare on absence).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aetcd
import aetcd.exceptions
import grpc

from services.common.errors import Unavailable
from services.common.timing import traced

KEY_PREFIX = "/dockyard/v1/"

_NEVER_WRITTEN = "\x00revision-probe/"
"""A key prefix no Dockyard key has: reading it costs etcd nothing and yields a header."""

_UNREACHABLE = (aetcd.exceptions.ConnectionFailedError, aetcd.exceptions.ConnectionTimeoutError)


def unavailable_from(exc: BaseException) -> Unavailable | None:
    """etcd out of reach as the typed error callers report (503, UNAVAILABLE); else None.

    It happens while a cluster restarts (etcd is the last to stop, the first to
    start): a request then fails as one to a service that is down, not as a bug.
    """
    if isinstance(exc, _UNREACHABLE) or _cancelled_by_etcd(exc):
        return Unavailable(f"the cluster store (etcd) is unavailable: {exc or 'call cancelled'}")
    return None


def _cancelled_by_etcd(exc: BaseException) -> bool:
    """aetcd reports a call etcd dropped as it died (CANCELLED) as a bare ClientError."""
    cause = exc.__cause__
    return (
        isinstance(exc, aetcd.exceptions.ClientError)
        and isinstance(cause, grpc.aio.AioRpcError)
        and cause.code() == grpc.StatusCode.CANCELLED
    )


@dataclass(frozen=True)
class Entry:
    """One stored value with the revision it was last written at."""

    key: str
    value: bytes
    mod_revision: int


@dataclass(frozen=True)
class WatchEvent:
    """A change under a watched prefix: ``value`` is None for a delete."""

    key: str
    value: bytes | None
    mod_revision: int


@dataclass(frozen=True)
class Absent:
    """Condition of :meth:`Store.commit`: ``key`` does not exist."""

    key: str


@dataclass(frozen=True)
class AtRevision:
    """Condition of :meth:`Store.commit`: ``key`` was last written at ``mod_revision``."""

    key: str
    mod_revision: int


@dataclass(frozen=True)
class Put:
    """Write of :meth:`Store.commit`: set ``key`` to ``value``."""

    key: str
    value: bytes


@dataclass(frozen=True)
class Delete:
    """Write of :meth:`Store.commit`: remove ``key`` (a missing key is not an error)."""

    key: str


Condition = Absent | AtRevision
Write = Put | Delete


def _full(key: str) -> bytes:
    return (KEY_PREFIX + key.lstrip("/")).encode()


def _short(key: bytes) -> str:
    return key.decode()[len(KEY_PREFIX) :]


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``http://127.0.0.1:2379`` → ``("127.0.0.1", 2379)``."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    if not parts.hostname or not parts.port:
        raise ValueError(f"invalid etcd endpoint {endpoint!r}: expected http://host:port")
    return parts.hostname, parts.port


class Store:
    """An asyncio handle on etcd, confined to Dockyard's key prefix."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self._endpoints = list(endpoints)
        self._timeout = timeout
        self._client: aetcd.Client | None = None

    @property
    def endpoints(self) -> list[str]:
        return list(self._endpoints)

    async def connect(self) -> None:
        """Connect to the first endpoint that answers a status call."""
        errors = []
        for endpoint in self._endpoints:
            host, port = parse_endpoint(endpoint)
            client = aetcd.Client(host=host, port=port, timeout=self._timeout)
            try:
                await client.status()
            except (aetcd.exceptions.ClientError, OSError) as exc:
                errors.append(f"{endpoint}: {exc}")
                await client.close()
                continue
            self._client = client
            return
        raise Unavailable("etcd is unreachable: " + "; ".join(errors))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> aetcd.Client:
        if self._client is None:
            raise Unavailable("etcd store is not connected")
        return self._client

    async def version(self) -> str:
        """The etcd server's version, e.g. ``3.4.23``."""
        status = await self.client.status()
        return str(status.version)

    async def get(self, key: str) -> Entry | None:
        result = await traced("etcd", f"get {key}", self.client.get(_full(key)))
        if result is None:
            return None
        return Entry(key, result.value, result.mod_revision)

    async def get_prefix(self, prefix: str) -> list[Entry]:
        results = await traced("etcd", f"get_prefix {prefix}",
                               self.client.get_prefix(_full(prefix)))
        return [Entry(_short(r.key), r.value, r.mod_revision) for r in results]

    async def get_prefix_at(self, prefix: str) -> tuple[list[Entry], int]:
        """Every entry under ``prefix`` and the store's revision the read was made at."""
        results = await traced("etcd", f"get_prefix {prefix}",
                               self.client.get_prefix(_full(prefix)))
        entries = [Entry(_short(r.key), r.value, r.mod_revision) for r in results]
        return entries, int(results.header.revision)

    async def current_revision(self) -> int:
        """The store's revision now (a read of a key range that is always empty)."""
        results = await traced("etcd", "current_revision", self.client.get_prefix(
            _full(_NEVER_WRITTEN), keys_only=True))
        return int(results.header.revision)

    async def count_prefix(self, prefix: str) -> int:
        results = await self.client.get_prefix(_full(prefix), keys_only=True)
        return len(list(results))

    async def put(self, key: str, value: bytes, *, lease: Any = None) -> int:
        """Set ``key``; the store's revision the write made (the key's new mod_revision)."""
        response = await traced("etcd", f"put {key}",
                                self.client.put(_full(key), value, lease=lease))
        return int(response.header.revision)

    async def put_all(self, pairs: Sequence[tuple[str, bytes]], *, lease: Any = None) -> None:
        """Write every ``(key, value)`` at once: one transaction, one proposal, one disk sync.

        etcd refuses transactions of more than 128 operations (``--max-txn-ops``).
        """
        tx = self.client.transactions
        success = [tx.put(_full(k), v, lease=lease) for k, v in pairs]
        await traced("etcd", lambda: "put_all " + ",".join(k for k, _ in pairs),
                     self.client.transaction(compare=[], success=success, failure=[]))

    async def delete(self, key: str) -> bool:
        """Delete ``key``; True when it existed."""
        return await self.delete_at(key) is not None

    async def delete_at(self, key: str) -> int | None:
        """Delete ``key``; the revision the delete made, None when there was nothing to delete."""
        response = await traced("etcd", f"delete {key}", self.client.delete(_full(key)))
        return None if response is None else int(response.header.revision)

    async def create(self, key: str, value: bytes) -> bool:
        """Write ``key`` only if it does not exist; False when it already did."""
        return await self.commit([Absent(key)], [Put(key, value)])

    async def put_if(self, key: str, value: bytes, mod_revision: int) -> bool:
        """Write ``key`` only if it is still at ``mod_revision``; False if it moved on."""
        return await self.commit([AtRevision(key, mod_revision)], [Put(key, value)])

    async def commit(self, conditions: Sequence[Condition], writes: Sequence[Write]) -> bool:
        """Apply every write in one transaction if every condition holds; False otherwise.

        Nothing is written when any condition fails, so several keys (a record
        and the name it reserves) appear and disappear together.
        """
        return await self.commit_at(conditions, writes) is not None

    async def commit_at(
        self, conditions: Sequence[Condition], writes: Sequence[Write]
    ) -> int | None:
        """:meth:`commit`, answering the revision the writes made (None: a condition failed)."""
        tx = self.client.transactions
        compare = [
            tx.create(_full(c.key)) == 0 if isinstance(c, Absent)
            else tx.mod(_full(c.key)) == c.mod_revision
            for c in conditions
        ]
        success = [
            tx.put(_full(w.key), w.value) if isinstance(w, Put) else tx.delete(_full(w.key))
            for w in writes
        ]
        succeeded, responses = await traced(
            "etcd", lambda: "commit " + ",".join(w.key for w in writes),
            self.client.transaction(compare=compare, success=success, failure=[]),
        )
        if not succeeded:
            return None
        # Every operation of a transaction answers with the transaction's header.
        for response in responses:
            op = response.WhichOneof("response")
            return int(getattr(response, op).header.revision)
        return await self.current_revision()

    async def grant_lease(self, ttl_seconds: int) -> Any:
        """A lease that expires ``ttl_seconds`` after its last refresh."""
        return await self.client.lease(ttl_seconds)

    @contextlib.asynccontextmanager
    async def watch_prefix(
        self, prefix: str, *, start_revision: int | None = None
    ) -> AsyncIterator[AsyncIterator[WatchEvent]]:
        """Yield an iterator of changes under ``prefix``; the watch ends on exit."""
        watch = await self.client.watch_prefix(_full(prefix), start_revision=start_revision)

        async def events() -> AsyncIterator[WatchEvent]:
            async for event in watch:
                kv = event.kv
                deleted = event.kind == aetcd.rtypes.EventKind.DELETE
                yield WatchEvent(_short(kv.key), None if deleted else kv.value, kv.mod_revision)

        try:
            yield events()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(watch.cancel(), 2)


async def connect_store(endpoints: Sequence[str], deadline_seconds: float) -> Store:
    """Connect to etcd, retrying while it starts (the launcher starts it in parallel)."""
    if not endpoints:
        raise Unavailable("no etcd endpoints configured (etcd-endpoints is empty)")
    deadline = time.monotonic() + deadline_seconds
    delay = 0.05
    while True:
        store = Store(endpoints)
        try:
            await store.connect()
            return store
        except Unavailable:
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)


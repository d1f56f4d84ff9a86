"""The local volume driver: volume records and users in etcd, data under the data-root.

``<data-root>/volumes/<name>/_data`` holds a volume's data, as dockerd lays it
out. A volume with driver options (``type``/``o``/``device``: tmpfs, a bind of
a host directory, any filesystem) has its device mounted on ``_data`` while at
least one container has it mounted (:meth:`VolumeService.mount`), and
unmounted when the last one lets go, as dockerd's local driver does.

Every change happens under one lock (imaged is the only writer of these keys).
The order of steps is chosen so that a crash leaves something start-up or a
retry can finish: a directory without a record is removed at start-up, a
driver mount nobody uses is unmounted at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from services.common.errors import Conflict, DockyardError, InvalidArgument, NotFound
from services.common.etcd_store import Store
from services.imaged.models import Filters
from services.imaged.service import ImageService
from services.imaged.snapshots import check_container_id
from services.imaged.unpack import disk_usage
from services.imaged.volumes import filters as flt
from services.imaged.volumes import mounts
from services.imaged.volumes.copyup import copy_up, is_empty
from services.imaged.volumes.models import (
    ANONYMOUS_LABEL,
    LOCAL_DRIVER,
    Volume,
    VolumePruneResult,
    VolumeSpec,
)
from services.imaged.volumes.names import anonymous_name, check_name
from services.imaged.volumes.options import check_options, has_mount, parse_mount
from services.imaged.volumes.records import (
    USERS,
    VOLUMES,
    VolumeRecord,
    VolumeUser,
    users_prefix,
)

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def no_such_volume(name: str, op: str = "get") -> NotFound:
    return NotFound(f"{op} {name}: no such volume")


class VolumeService:
    """Volumes of one data-root."""

    def __init__(self, store: Store, data_root: Path, images: ImageService) -> None:
        self.store = store
        self.root = data_root / "volumes"
        self.images = images
        self.lock = asyncio.Lock()

    # ---- paths and records ------------------------------------------------------------

    def volume_dir(self, name: str) -> Path:
        return self.root / name

    def data_dir(self, name: str) -> Path:
        return self.root / name / "_data"

    async def _record(self, name: str, op: str = "get") -> VolumeRecord:
        entry = await self.store.get(VOLUMES + name) if name else None
        if entry is None:
            raise no_such_volume(name, op)
        return VolumeRecord.decode(entry.value)

    async def _users(self, name: str) -> list[VolumeUser]:
        entries = await self.store.get_prefix(users_prefix(name))
        return [VolumeUser.decode(e.key, e.value) for e in entries]

    def _volume(self, record: VolumeRecord, users: list[VolumeUser]) -> Volume:
        return Volume(
            name=record.name, driver=record.driver,
            mountpoint=str(self.data_dir(record.name)), created_at=record.created_at,
            labels=record.labels, options=record.options,
            users=tuple(sorted(u.container_id for u in users)),
        )

    async def setup(self) -> None:
        """Create the root; drop directories without records and mounts nobody uses."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o701)
        async with self.lock:
            records = {r.name: r for r in await self._all_records()}
            users: dict[str, list[VolumeUser]] = {}
            for entry in await self.store.get_prefix(USERS):
                user = VolumeUser.decode(entry.key, entry.value)
                users.setdefault(user.volume, []).append(user)
            for directory in self.root.iterdir():
                if directory.name not in records:
                    await asyncio.to_thread(self._delete_dir, directory.name)
            for name, record in records.items():
                in_use = sum(u.mounts for u in users.get(name, []))
                if has_mount(record.options) and not in_use:
                    await asyncio.to_thread(mounts.unmount, self.data_dir(name))

    async def _all_records(self) -> list[VolumeRecord]:
        return [VolumeRecord.decode(e.value) for e in await self.store.get_prefix(VOLUMES)]

    # ---- create, inspect, list ----------------------------------------------------------

    async def create(self, spec: VolumeSpec) -> Volume:
        """``POST /volumes/create``: a new volume, or the existing one of that name."""
        name = spec.name
        labels: Mapping[str, str] | None = spec.labels
        if not name:
            name = anonymous_name()
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        try:
            if spec.driver not in ("", LOCAL_DRIVER):
                raise NotFound(f"error looking up volume plugin {spec.driver}: plugin "
                               f'"{spec.driver}" not found')
            check_name(name)
            check_options(spec.driver_opts)
        except DockyardError as exc:
            raise type(exc)(f"create {name}: {exc.message}") from None
        async with self.lock:
            entry = await self.store.get(VOLUMES + name)
            if entry is not None:
                existing = VolumeRecord.decode(entry.value)
                return self._volume(existing, await self._users(name))
            record = VolumeRecord(name=name, driver=LOCAL_DRIVER, created_at=_now(),
                                  labels=labels, options=spec.driver_opts)
            # Directory first: a crash leaves a directory start-up removes, never a
            # record without its data directory.
            await asyncio.to_thread(self._make_dir, name)
            try:
                await self.store.put(record.key, record.encode())
            except BaseException:
                await asyncio.to_thread(self._delete_dir, name)
                raise
            return self._volume(record, [])

    def _make_dir(self, name: str) -> None:
        self.volume_dir(name).mkdir(mode=0o701, exist_ok=True)
        self.data_dir(name).mkdir(mode=0o755, exist_ok=True)

    def _delete_dir(self, name: str) -> None:
        """Remove a volume's directory, never descending into a mount (a bind's host data)."""
        directory = self.volume_dir(name)
        for point in mounts.mounts_under(directory):
            mounts.unmount(point)
        if mounts.mounts_under(directory):
            raise InvalidArgument(f"remove {name}: volume data is still mounted")
        shutil.rmtree(directory, ignore_errors=True)

    async def inspect(self, name: str) -> Volume:
        record = await self._record(name)
        return self._volume(record, await self._users(name))

    async def list_volumes(self, filters: Filters) -> list[Volume]:
        flt.check(filters, flt.LIST_FILTERS)
        volumes = await self._all_volumes()
        return [v for v in volumes if flt.list_matches(filters, v)]

    async def _all_volumes(self) -> list[Volume]:
        users: dict[str, list[VolumeUser]] = {}
        for entry in await self.store.get_prefix(USERS):
            user = VolumeUser.decode(entry.key, entry.value)
            users.setdefault(user.volume, []).append(user)
        records = sorted(await self._all_records(), key=lambda r: r.name)
        return [self._volume(r, users.get(r.name, [])) for r in records]

    # ---- remove and prune ---------------------------------------------------------------

    async def remove(self, name: str, force: bool = False) -> None:
        """``DELETE /volumes/{name}``; a volume a container references is a conflict."""
        async with self.lock:
            try:
                record = await self._record(name)
            except NotFound:
                if force:
                    return
                raise
            await self._remove_locked(record)

    async def _remove_locked(self, record: VolumeRecord) -> None:
        users = await self._users(record.name)
        if users:
            ids = ", ".join(sorted(u.container_id for u in users))
            raise Conflict(f"remove {record.name}: volume is in use - [{ids}]")
        await asyncio.to_thread(self._delete_dir, record.name)
        await self.store.delete(record.key)

    async def prune(self, filters: Filters) -> VolumePruneResult:
        """``POST /volumes/prune``: unused anonymous volumes (all unused ones with all=true)."""
        flt.check(filters, flt.PRUNE_FILTERS)
        deleted: list[str] = []
        reclaimed = 0
        async with self.lock:
            for volume in await self._all_volumes():
                if not flt.prune_matches(filters, volume):
                    continue
                record = await self._record(volume.name)
                size = 0
                if not has_mount(record.options):
                    size = await asyncio.to_thread(disk_usage, str(self.data_dir(volume.name)))
                try:
                    await self._remove_locked(record)
                except DockyardError as exc:
                    log.warning("prune skipped a volume",
                                extra={"volume": volume.name, "error": exc.message})
                    continue
                deleted.append(volume.name)
                reclaimed += size
        return VolumePruneResult(tuple(deleted), reclaimed)

    # ---- users and mounts ---------------------------------------------------------------

    async def _user(self, name: str, container_id: str) -> VolumeUser | None:
        entry = await self.store.get(users_prefix(name) + container_id)
        return VolumeUser.decode(entry.key, entry.value) if entry else None

    async def reference(self, name: str, container_id: str) -> None:
        check_container_id(container_id)
        async with self.lock:
            await self._record(name)
            if await self._user(name, container_id) is None:
                user = VolumeUser(name, container_id)
                await self.store.put(user.key, user.encode())

    async def release(self, name: str, container_id: str) -> None:
        check_container_id(container_id)
        async with self.lock:
            user = await self._user(name, container_id)
            if user is None:
                return
            await self.store.delete(user.key)
            if user.mounts:
                await self._unmount_if_unused(name)

    async def mount(self, name: str, container_id: str) -> Path:
        """One more mount of ``name`` by ``container_id``; the host path to bind."""
        check_container_id(container_id)
        async with self.lock:
            return await self._mount_locked(name, container_id)

    async def _mount_locked(self, name: str, container_id: str) -> Path:
        record = await self._record(name)
        target = self.data_dir(name)
        mounted_now = False
        if has_mount(record.options) and not await asyncio.to_thread(mounts.is_mount_point, target):
            assert record.options is not None
            await asyncio.to_thread(self._make_dir, name)
            await asyncio.to_thread(mounts.mount, parse_mount(record.options), target)
            mounted_now = True
        try:
            user = await self._user(name, container_id) or VolumeUser(name, container_id)
            counted = VolumeUser(name, container_id, user.mounts + 1)
            await self.store.put(counted.key, counted.encode())
        except BaseException:
            if mounted_now:
                await asyncio.to_thread(mounts.unmount, target)
            raise
        return target

    async def unmount(self, name: str, container_id: str) -> None:
        check_container_id(container_id)
        async with self.lock:
            await self._unmount_locked(name, container_id)

    async def _unmount_locked(self, name: str, container_id: str) -> None:
        user = await self._user(name, container_id)
        if user is None or user.mounts == 0:
            return
        counted = VolumeUser(name, container_id, user.mounts - 1)
        await self.store.put(counted.key, counted.encode())
        await self._unmount_if_unused(name)

    async def _unmount_if_unused(self, name: str) -> None:
        entry = await self.store.get(VOLUMES + name)
        if entry is None or not has_mount(VolumeRecord.decode(entry.value).options):
            return
        if sum(u.mounts for u in await self._users(name)) == 0:
            await asyncio.to_thread(mounts.unmount, self.data_dir(name))

    # ---- copy-up ------------------------------------------------------------------------

    async def populate(self, name: str, container_id: str, path: str) -> bool:
        """Docker's copy-up of ``path`` in the container's rootfs into an empty, new volume."""
        check_container_id(container_id)
        if not path.startswith("/"):
            raise InvalidArgument(f"invalid mount path {path!r}: it must be absolute")
        snapshot = await self.images.catalog.snapshot(container_id)
        rootfs = self.images.snapshotter.mount_point(container_id)
        if snapshot is None or not await asyncio.to_thread(mounts.is_mount_point, rootfs):
            raise NotFound(f"no prepared snapshot for container {container_id}")
        async with self.lock:
            record = await self._record(name)
            if record.populated:
                return False
            target = await self._mount_locked(name, container_id)
            try:
                copied = False
                if await asyncio.to_thread(is_empty, target):
                    try:
                        copied = await asyncio.to_thread(copy_up, rootfs, path, target)
                    except BaseException:
                        await asyncio.to_thread(_empty_dir, target)
                        raise
                    has_data = copied and not await asyncio.to_thread(is_empty, target)
                else:
                    has_data = True
                if has_data:
                    done = VolumeRecord(record.name, record.driver, record.created_at,
                                        record.labels, record.options, populated=True)
                    await self.store.put(done.key, done.encode())
            finally:
                await self._unmount_locked(name, container_id)
            return copied and has_data


def _empty_dir(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)

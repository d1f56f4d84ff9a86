"""``docker rmi`` and ``docker image prune`` with dockerd's rules (daemon/images/image_delete.go).

Removing by name untags; the image itself goes only when no reference is
left. Removing by ID drops every reference when they all belong to one
repository, and otherwise needs ``force``. A container's snapshot over the
image is a conflict unless forced (imaged cannot tell running from stopped
yet: the gateway will check running containers before calling).
"""

from __future__ import annotations

from services.common.errors import Conflict, DockyardError
from services.imaged import filters as flt
from services.imaged.catalog import parse_ref
from services.imaged.models import DeleteItem, Filters, PruneResult
from services.imaged.records import ImageRecord, RefRecord
from services.imaged.reference import parse_normalized, short_id
from services.imaged.service import ImageService, lookup_is_id


def _single_repository(refs: list[RefRecord]) -> bool:
    """dockerd's isSingleReference: at most one tag, and all references in one repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    parsed = [parse_ref(r.reference) for r in refs]
    tags = [p for p in parsed if not p.digest]
    if len(tags) > 1:
        return False
    return len({p.name for p in parsed}) == 1


async def _conflict(service: ImageService, record: ImageRecord, force: bool) -> Conflict | None:
    """The reason ``record`` cannot be deleted, if any (hard conflicts ignore ``force``)."""
    images = await service.catalog.images()
    if any(other.parent == record.id for other in images.values()):
        return Conflict(f"conflict: unable to delete {short_id(record.id)} (cannot be forced) - "
                        "image has dependent child images")
    if force:
        return None
    users = await service.users_of(record.id)
    if users:
        return Conflict(f"conflict: unable to delete {short_id(record.id)} (must be forced) - "
                        f"image is being used by stopped container {short_id(users[0])}")
    return None


async def remove_image(
    service: ImageService, name: str, *, force: bool = False, prune: bool = True
) -> list[DeleteItem]:
    """``DELETE /images/{name}``: the Untagged/Deleted lines, in dockerd's order."""
    async with service.lock:
        return await _remove_locked(service, name, force=force, prune=prune)


async def _remove_locked(
    service: ImageService, name: str, *, force: bool, prune: bool
) -> list[DeleteItem]:
    catalog = service.catalog
    record = await catalog.resolve(name)
    refs = await catalog.refs_of(record.id)
    items: list[DeleteItem] = []
    if not lookup_is_id(name, record.id):
        if not force and len(refs) == 1:
            users = await service.users_of(record.id)
            if users:
                raise Conflict(
                    f"conflict: unable to remove repository reference {name!r} (must force) - "
                    f"container {short_id(users[0])} is using its referenced image "
                    f"{short_id(record.id)}"
                )
        named = parse_normalized(name).with_default_tag()
        removed = next((r for r in refs if r.reference == str(named)), None)
        if removed is not None:
            await catalog.delete(removed)
            items.append(DeleteItem(untagged=named.familiar))
        refs = [r for r in refs if r is not removed]
        if not named.digest and not any(
            not parse_ref(r.reference).digest and parse_ref(r.reference).name == named.name
            for r in refs
        ):
            # The last tag of a repository takes that repository's digests with it.
            for ref in [r for r in refs if parse_ref(r.reference).name == named.name]:
                await catalog.delete(ref)
                items.append(DeleteItem(untagged=parse_ref(ref.reference).familiar))
                refs.remove(ref)
        if refs:
            return items
    else:
        if refs and not _single_repository(refs) and not force:
            raise Conflict(f"conflict: unable to delete {short_id(record.id)} (must be forced) - "
                           "image is referenced in multiple repositories")
    conflict = await _conflict(service, record, force)
    if conflict is not None:
        raise conflict
    for ref in refs:
        await catalog.delete(ref)
        items.append(DeleteItem(untagged=parse_ref(ref.reference).familiar))
    await catalog.delete(record)
    items.append(DeleteItem(deleted=record.id))
    for layer in reversed(await service.collect()):
        items.append(DeleteItem(deleted=layer.chain_id))
    return items


async def prune_images(service: ImageService, filters: Filters) -> PruneResult:
    """``POST /images/prune``: dangling images, or every unused one when ``dangling=false``."""
    flt.check_filters(filters, flt.PRUNE_FILTERS)
    dangling_only = flt.bool_filter(filters, "dangling", True)
    until = flt.parse_timestamp(filters["until"][0]) if filters.get("until") else None
    items: list[DeleteItem] = []
    reclaimed = 0
    async with service.lock:
        images = await service.catalog.images()
        used = {s.image_id for s in await service.catalog.snapshots()}
        by_image: dict[str, list[RefRecord]] = {}
        for ref in await service.catalog.refs():
            by_image.setdefault(ref.image_id, []).append(ref)
        sizes = {c: layer.size for c, layer in (await service.catalog.layers()).items()}
        for image_id, record in sorted(images.items()):
            refs = by_image.get(image_id, [])
            tagged = any(not parse_ref(r.reference).digest for r in refs)
            if image_id in used or (dangling_only and tagged):
                continue
            if until is not None and record.created_unix > until:
                continue
            if not flt.labels_match(filters, record.labels):
                continue
            names = [parse_ref(r.reference).familiar for r in refs] or [image_id]
            for name in names:
                try:
                    removed = await _remove_locked(service, name, force=False, prune=True)
                except DockyardError:
                    continue  # in use, or gone with an earlier name: dockerd skips it too
                items.extend(removed)
                reclaimed += sum(sizes.get(i.deleted, 0) for i in removed if i.deleted)
    return PruneResult(deleted=tuple(items), space_reclaimed=reclaimed)

"""Image events as dockerd reports them: the actor is the image ID (a reference for pull
and push) and ``name`` the reference the action was about."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol, TypeVar

from gateway.events import emit
from services.common.errors import DockyardError
from services.imaged.reference import Reference, parse_normalized

Item = TypeVar("Item")


class ImageInspector(Protocol):
    async def inspect_image(self, name: str) -> Any: ...


def _parsed(name: str, tag: str) -> Reference | None:
    with contextlib.suppress(DockyardError):
        return parse_normalized(f"{name}:{tag}" if tag else name).with_default_tag()
    return None


def reference(name: str, tag: str) -> str:
    """As dockerd names it: ``docker.io/library/busybox`` + ``""`` → ``busybox:latest``."""
    parsed = _parsed(name, tag)
    return parsed.familiar if parsed is not None else (f"{name}:{tag}" if tag else name)


def _familiar_name(name: str, tag: str) -> str:
    parsed = _parsed(name, tag)
    return parsed.familiar_name if parsed is not None else name


async def image_id(images: ImageInspector, name: str) -> str:
    """The image's ID, or "" when it cannot be read (the action itself reports errors)."""
    with contextlib.suppress(DockyardError):
        return str((await images.inspect_image(name)).id)
    return ""


async def emit_image(images: ImageInspector, name: str, action: str, ref: str = "") -> None:
    """An event whose actor is the image ``name`` resolves to; ``ref`` is its ``name``."""
    found = await image_id(images, name)
    if found:
        emit("image", action, found, {"name": ref or found})


async def emit_tagged(images: ImageInspector, name: str, repo: str, tag: str) -> None:
    await emit_image(images, name, "tag", reference(repo, tag))


async def after_transfer(
    items: AsyncIterator[Item], action: str, name: str, tag: str
) -> AsyncIterator[Item]:
    """Pass a pull's or push's progress through; emit once it ended without error."""
    async for item in items:
        yield item
    emit("image", action, reference(name, tag), {"name": _familiar_name(name, tag)})


def emit_removal(image: str, deleted_items: Iterable[Any]) -> None:
    """``untag`` for each reference removed, ``delete`` for each image deleted."""
    for item in deleted_items:
        if item.untagged:
            emit("image", "untag", image or item.untagged, {"name": item.untagged})
        elif item.deleted:
            emit("image", "delete", item.deleted, {"name": item.deleted})


async def emit_saved(images: ImageInspector, names: Iterable[str]) -> None:
    for name in names:
        await emit_image(images, name, "save")


LOADED_PREFIXES = ("Loaded image ID: ", "Loaded image: ")


def emit_loaded(line: str) -> None:
    """``load`` for a line of the load stream that names a loaded image."""
    for prefix in LOADED_PREFIXES:
        if line.startswith(prefix):
            loaded = line[len(prefix):].strip()
            emit("image", "load", loaded, {"name": loaded})
            return

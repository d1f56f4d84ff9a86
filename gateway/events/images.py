"""Image events as dockerd reports them: the actor is the image ID (a reference for pull
and push) and ``name`` the reference the action was about."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol, TypeVar

from gateway.events import emit
from services.common.errors import DockyardError

Item = TypeVar("Item")


class ImageInspector(Protocol):
    async def inspect_image(self, name: str) -> Any: ...


def reference(name: str, tag: str) -> str:
    """``busybox`` + ``""`` → ``busybox:latest``; a digest or a tag in ``name`` is kept."""
    if tag:
        return f"{name}:{tag}"
    last = name.rsplit("/", 1)[-1]
    return name if ("@" in name or ":" in last) else f"{name}:latest"


def _familiar_name(ref: str) -> str:
    ref = ref.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


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
    ref = reference(name, tag)
    emit("image", action, ref, {"name": _familiar_name(ref)})


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

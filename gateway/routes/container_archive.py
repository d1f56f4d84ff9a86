"""A container's files: ``docker cp`` (``/archive``), ``export``, ``diff`` and ``commit``.

imaged owns the container's filesystem and does the work confined to the
container's root; these handlers only find the container and translate the
query string. Paths are as the container sees them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import posixpath
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from gateway import query
from gateway.containers.copy_volumes import VolumeMounts, volumes_for_copy
from gateway.containers.records import ContainerRecord
from gateway.containers.validation import validate_config_types
from gateway.events import emit_container
from gateway.events import images as image_events
from gateway.keys import BACKENDS
from gateway.responses import json_response
from gateway.routes.container_lifecycle import lifecycle_of
from gateway.routing import Route
from services.common.errors import Conflict, DockyardError, Forbidden, InvalidArgument
from services.execd.models import PAUSED, RUNNING
from services.imaged.initlayer import without_init_paths
from services.imaged.models import CommitOptions, CopyMount, PathStat

log = logging.getLogger(__name__)

TAR_CONTENT_TYPE = "application/x-tar"
STAT_HEADER = "X-Docker-Container-Path-Stat"
UPLOAD_CHUNK = 1 << 20


def stat_header(st: PathStat) -> str:
    """dockerd's header: base64 of the JSON ContainerPathStat, fields in Go's order."""
    document = {"name": st.name, "size": st.size, "mode": st.mode, "mtime": st.mtime,
                "linkTarget": st.link_target}
    return base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path cannot be empty")
    return path if path.startswith("/") else "/" + path


async def _record(request: web.Request) -> ContainerRecord:
    return await request.app[BACKENDS].containers.get(request.match_info["id"])


async def _pid(request: web.Request, record: ContainerRecord) -> int:
    """The container's init while it runs: copies then see its mounts, as dockerd's do."""
    lifecycle = request.app[BACKENDS].lifecycle
    if lifecycle is None:
        return 0
    state = await lifecycle.state(record.id)
    return state.pid if state.status in (RUNNING, PAUSED) else 0


def _volumes(request: web.Request) -> VolumeMounts | None:
    lifecycle = request.app[BACKENDS].lifecycle
    return lifecycle.volumes if lifecycle is not None else None


def copy_mounts(
    record: ContainerRecord, pid: int, volume_paths: Mapping[str, str] | None = None
) -> tuple[CopyMount, ...]:
    """The volumes and binds a copy of a stopped container must see, as dockerd mounts
    them for it (a running one's root has them already). ``volume_paths``: where
    imaged mounted each volume for the copy, by destination."""
    if pid:
        return ()
    mounts = []
    for mount in record.mounts:
        source, destination = str(mount.get("Source") or ""), str(mount.get("Destination") or "")
        if mount.get("Type") == "volume":
            source = (volume_paths or {}).get(destination, source)
        if mount.get("Type") in ("bind", "volume") and source and destination:
            mounts.append(CopyMount(source=source, destination=destination,
                                    read_only=not mount.get("RW", True)))
    return tuple(mounts)


def in_mount(path: str, mounts: Sequence[CopyMount]) -> bool:
    """Whether ``path`` lies in one of ``mounts`` (lexically, as dockerd checks it)."""
    clean = posixpath.normpath("/" + path.lstrip("/"))
    for mount in mounts:
        destination = posixpath.normpath(mount.destination)
        if clean == destination or clean.startswith(destination.rstrip("/") + "/"):
            return True
    return False


async def _stream_tar(request: web.Request, chunks: AsyncIterator[bytes],
                      headers: Mapping[str, str],
                      on_complete: Callable[[], None] | None = None,
                      before_end: Callable[[], Awaitable[None]] | None = None,
                      ) -> web.StreamResponse:
    """Send the archive; ``before_end`` runs once it is all out, before the body ends
    (the client, done reading, sees nothing that happens after that)."""
    try:
        first = await anext(chunks, b"")  # a missing path fails here, before any header
        response = web.StreamResponse(headers={"Content-Type": TAR_CONTENT_TYPE, **headers})
        await response.prepare(request)
        try:
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
            if before_end is not None:
                await before_end()
        except DockyardError as exc:
            # Headers are gone: cut the connection so the client sees a truncated archive.
            log.error("archive failed mid-stream", extra={"error": exc.message})
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        if on_complete is not None:
            on_complete()
        return response
    finally:
        with contextlib.suppress(AttributeError):
            await chunks.aclose()  # type: ignore[attr-defined]  # ends the gRPC stream


async def head_container_archive(request: web.Request) -> web.Response:
    record = await _record(request)
    pid = await _pid(request, record)
    async with volumes_for_copy(record, bool(pid), _volumes(request)) as paths:
        st = await request.app[BACKENDS].images.stat_container_path(
            record.id, _path(request), request.match_info["id"], pid,
            mounts=copy_mounts(record, pid, paths))
    return web.Response(headers={STAT_HEADER: stat_header(st)})


async def get_container_archive(request: web.Request) -> web.StreamResponse:
    record = await _record(request)
    images = request.app[BACKENDS].images
    name, path = request.match_info["id"], _path(request)
    pid = await _pid(request, record)
    # The volumes stay mounted until the archive is out, and are unmounted before
    # its end reaches the client, as dockerd does.
    async with contextlib.AsyncExitStack() as copying:
        paths = await copying.enter_async_context(
            volumes_for_copy(record, bool(pid), _volumes(request)))
        mounts = copy_mounts(record, pid, paths)
        st = await images.stat_container_path(record.id, path, name, pid, mounts=mounts)
        chunks = images.read_container_archive(record.id, path, name, pid, mounts=mounts)
        emit_container(record, "archive-path")  # as dockerd: once the archive is under way
        return await _stream_tar(request, chunks, {STAT_HEADER: stat_header(st)},
                                 before_end=copying.aclose)


async def put_container_archive(request: web.Request) -> web.Response:
    record = await _record(request)
    pid = await _pid(request, record)
    async with volumes_for_copy(record, bool(pid), _volumes(request)) as paths:
        await _extract(request, record, pid, copy_mounts(record, pid, paths))
        emit_container(record, "extract-to-dir")  # as dockerd: before the volumes' unmount
    return web.Response()


async def _extract(
    request: web.Request, record: ContainerRecord, pid: int, mounts: Sequence[CopyMount]
) -> None:
    # A running container's own mounts say what is read-only (its volumes stay
    # writable); a stopped one's snapshot is writable, so refuse here unless
    # the path is in one of its volumes (whose own :ro imaged enforces).
    if not pid and record.host_config.get("ReadonlyRootfs") and not in_mount(
        _path(request), mounts
    ):
        raise Forbidden("container rootfs is marked read-only")
    # copyUIDGID: entries get the container user's uid/gid, looked up inside it;
    # for the default (root) user dockerd keeps the archive's own, and so do we.
    user = str(record.config.get("User") or "")
    owner = user if user and query.bool_value(request, "copyUIDGID") else None
    await request.app[BACKENDS].images.write_container_archive(
        record.id, _path(request), request.match_info["id"],
        request.content.iter_chunked(UPLOAD_CHUNK),
        no_overwrite_dir_non_dir=query.bool_value(request, "noOverwriteDirNonDir"),
        owner=owner, pid=pid, mounts=tuple(mounts),
    )


async def get_container_export(request: web.Request) -> web.StreamResponse:
    record = await _record(request)
    return await _stream_tar(request, request.app[BACKENDS].images.export_container(record.id),
                             {}, lambda: emit_container(record, "export"))


async def get_container_changes(request: web.Request) -> web.Response:
    record = await _record(request)
    changes = without_init_paths(await request.app[BACKENDS].images.snapshot_changes(record.id))
    # dockerd encodes its nil slice: null, not [], when nothing changed.
    return json_response([{"Path": c.path, "Kind": c.kind} for c in changes] or None)


async def _commit_body(request: web.Request) -> Mapping[str, Any]:
    """The optional Config in the body: its set fields override the container's."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidArgument("the commit body must be a container config object")
    validate_config_types(body)  # it becomes the image's config: a 400 for wrong types
    return {k: v for k, v in body.items() if v not in (None, "", [], {}, False)}


async def post_commit(request: web.Request) -> web.Response:
    ref = request.query.get("container", "")
    if not ref:
        raise InvalidArgument("container is required")
    backends = request.app[BACKENDS]
    record = await backends.containers.get(ref)
    config = {**record.config, **await _commit_body(request)}
    options = CommitOptions(
        container_id=record.id, config=config,
        changes=tuple(request.query.getall("changes", [])),
        comment=request.query.get("comment", ""), author=request.query.get("author", ""),
        repo=request.query.get("repo", ""), tag=request.query.get("tag", ""),
    )
    # pause defaults to true: the filesystem is frozen while its layer is written.
    paused = False
    if request.query.get("pause", "1").strip().lower() not in ("0", "no", "false", "none"):
        with contextlib.suppress(Conflict):  # not running, or paused already
            await lifecycle_of(request).pause(record.id)
            paused = True
    try:
        image_id = await backends.images.commit_container(options)
    finally:
        if paused:
            await lifecycle_of(request).unpause(record.id)
    image_ref = ""
    if options.repo:
        await image_events.emit_tagged(backends.images, image_id, options.repo, options.tag)
        image_ref = image_events.reference(options.repo, options.tag)
    emit_container(record, "commit", comment=options.comment, imageID=image_id,
                   imageRef=image_ref)
    return json_response({"Id": image_id}, status=201)


ROUTES = (
    Route("HEAD", "/containers/{id}/archive", head_container_archive),
    Route("GET", "/containers/{id}/archive", get_container_archive),
    Route("PUT", "/containers/{id}/archive", put_container_archive),
    Route("GET", "/containers/{id}/export", get_container_export),
    Route("GET", "/containers/{id}/changes", get_container_changes),
    Route("POST", "/commit", post_commit),
)

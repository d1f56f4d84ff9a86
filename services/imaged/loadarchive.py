"""The outer archive of ``docker load``, spooled to disk without trusting its paths.

dockerd untars the whole archive into a temporary directory and then follows
paths in it (FollowSymlinkInScope). Here nothing from the archive becomes a
path on disk: each regular file is written to a numbered file in a private
spool directory, and the archive's own names (with its symlinks and hard
links) are kept in a table. Lookups resolve names through that table, so a
symlink can only lead to another entry of the same archive:

- names with ``..`` components or a leading ``/`` are refused, as are
  symlinks whose target is absolute or climbs above the archive's root;
- device nodes, FIFOs and other special entries are refused (a save archive
  has none);
- PAX / GNU long headers are bounded, and an archive cut short is refused.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from services.common.errors import InvalidArgument
from services.imaged.archive import CHUNK, hashing, open_tar_stream, open_uncompressed

MAX_SYMLINKS = 40
MAX_JSON = 32 << 20
"""The largest manifest, index or config document read (dockerd's are a few KB)."""


class BadArchive(InvalidArgument):
    """The load archive is malformed or tries to reach outside itself."""


@dataclass(frozen=True)
class _Entry:
    kind: str
    """"file", "dir" or "link"."""
    path: Path | None = None
    target: str = ""


def _parts(name: str, what: str) -> list[str]:
    if name.startswith("/"):
        raise BadArchive(f"invalid archive: {what} {name!r} is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BadArchive(f"invalid archive: {what} {name!r} points outside the archive")
    return parts


class SpooledArchive:
    """A load archive's files in ``root`` (one numbered file each) and its name table."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: dict[str, _Entry] = {}
        self._count = 0

    @classmethod
    def spool(cls, raw: BinaryIO, parent: Path) -> SpooledArchive:
        """Read the (possibly compressed) tar ``raw`` into a new directory under ``parent``.

        Blocking: run it in a worker thread. On failure nothing is left behind.
        """
        archive = cls(parent / f"load-{uuid.uuid4().hex}")
        archive.root.mkdir(mode=0o700)
        try:
            stream, counter = hashing(open_uncompressed(raw))
            tar = open_tar_stream(stream)
            try:
                for member in tar:
                    archive._add(member, tar)
            except tarfile.TarError as exc:
                raise BadArchive(f"invalid tar archive: {exc}") from None
            counter.drain()
            if counter.count % tarfile.BLOCKSIZE:
                raise BadArchive("invalid tar archive: unexpected end of data")
        except BaseException:
            archive.remove()
            raise
        return archive

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _add(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        parts = _parts(member.name, "entry")
        if not parts:
            return
        name = "/".join(parts)
        if member.isdir():
            self.entries[name] = _Entry("dir")
        elif member.isreg():
            self._count += 1
            path = self.root / str(self._count)
            source = tar.extractfile(member)
            with open(path, "wb") as out:
                while source is not None and (chunk := source.read(CHUNK)):
                    out.write(chunk)
            if path.stat().st_size != member.size:
                raise BadArchive("invalid tar archive: unexpected end of data")
            self.entries[name] = _Entry("file", path)
        elif member.issym():
            if member.linkname.startswith("/"):
                raise BadArchive(f"invalid archive: symlink {member.name!r} points to the "
                                 f"absolute path {member.linkname!r}")
            self.entries[name] = _Entry("link", target=member.linkname)
        elif member.islnk():
            target = self.entries.get("/".join(_parts(member.linkname, "hard link target")))
            if target is None or target.kind != "file":
                raise BadArchive(f"invalid archive: hard link {member.name!r} names "
                                 f"{member.linkname!r}, which is not a file before it")
            self.entries[name] = target
        else:
            raise BadArchive(f"invalid archive: {member.name!r} is a special file "
                             "(device, FIFO …), which a load archive never holds")

    def _resolve(self, name: str) -> str:
        pending = _parts(name, "path")
        resolved: list[str] = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise BadArchive(f"invalid archive: {name!r} leads outside the archive "
                                     "through a symlink")
                resolved.pop()
                continue
            entry = self.entries.get("/".join([*resolved, part]))
            if entry is not None and entry.kind == "link":
                links += 1
                if links > MAX_SYMLINKS:
                    raise BadArchive(f"invalid archive: too many levels of symlinks at {name!r}")
                pending[:0] = entry.target.split("/")
                continue
            resolved.append(part)
        return "/".join(resolved)

    def has(self, name: str) -> bool:
        entry = self.entries.get(self._resolve(name))
        return entry is not None and entry.kind == "file"

    def path(self, name: str) -> Path:
        """The spooled file of the archive's ``name`` (after its symlinks)."""
        entry = self.entries.get(self._resolve(name))
        if entry is None or entry.kind != "file" or entry.path is None:
            raise BadArchive(f"invalid archive: {name} is missing")
        return entry.path

    def read(self, name: str, limit: int = MAX_JSON) -> bytes:
        path = self.path(name)
        if path.stat().st_size > limit:
            raise BadArchive(f"invalid archive: {name} is larger than {limit} bytes")
        return path.read_bytes()

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError as exc:
            raise BadArchive(f"invalid archive: {name} is not valid JSON: {exc}") from None

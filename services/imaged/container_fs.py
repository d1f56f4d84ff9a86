"""A container's filesystem as ``docker cp`` and ``docker export`` see it.

Paths are opened by the kernel confined to the container's root
(:mod:`services.imaged.inroot`); directories are walked and files read
through file descriptors relative to their parent, with ``O_NOFOLLOW``, so a
container swapping a symlink while we copy can at worst make us copy the
wrong file of its own, never one of the host. Extraction reuses the layer
unpacker's fd-based writer (:mod:`services.imaged.tree_writer`) rooted at the
extraction directory.

Blocking throughout: callers run these functions in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from services.common.errors import Forbidden, InvalidArgument, NotFound
from services.imaged.archive import CHUNK, open_tar_stream, open_uncompressed
from services.imaged.initlayer import INIT_PATHS
from services.imaged.inroot import openat_in_root, split_container_path
from services.imaged.models import PathStat
from services.imaged.snapshots import is_whiteout
from services.imaged.tree_writer import MAX_SYMLINKS, TreeWriter, apply_metadata, clean_parts
from services.imaged.unpack import OPAQUE_WHITEOUT, OPAQUE_XATTR, WHITEOUT_PREFIX

_DIR_PATH = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC

# Go's os.FileMode type bits, which the docker CLI decodes from the stat header.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20


def go_file_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFIFO: _GO_PIPE,
             stat.S_IFSOCK: _GO_SOCKET, stat.S_IFBLK: _GO_DEVICE,
             stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV}.get(kind, 0)
    if st_mode & stat.S_ISUID:
        mode |= _GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= _GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= _GO_STICKY
    return mode


def go_time(ns: int) -> str:
    """A time as Go's time.Time marshals it (RFC3339Nano, trailing zeros trimmed), in UTC."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


@contextlib.contextmanager
def _opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _not_found(path: str, container: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {container}")


@contextlib.contextmanager
def _parent_of(root: str, path: str, container: str) -> Iterator[tuple[int, str]]:
    """(O_PATH fd of the parent directory, last component) of ``path`` inside ``root``."""
    parent, name = split_container_path(path)
    with _opened(os.open(root, _DIR_PATH)) as root_fd:
        try:
            fd = openat_in_root(root_fd, parent, _DIR_PATH)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                raise _not_found(path, container) from None
            raise
    with _opened(fd) as parent_fd:
        yield parent_fd, name


def _lstat(parent_fd: int, name: str, path: str, container: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found(path, container) from None


def stat_path(root: str, path: str, container: str) -> PathStat:
    """``HEAD /containers/{id}/archive``: what ``path`` is, its last symlink not followed."""
    with _parent_of(root, path, container) as (parent_fd, name):
        st = _lstat(parent_fd, name, path, container)
        target = ""
        if stat.S_ISLNK(st.st_mode):
            target = _link_target(root, path)
    base = "/" if path.strip("/") == "" else Path(path.rstrip("/")).name or "/"
    return PathStat(name=base, size=st.st_size, mode=go_file_mode(st.st_mode),
                    mtime=go_time(st.st_mtime_ns), link_target=target)


def _link_target(root: str, path: str) -> str:
    """Where the symlink ``path`` leads inside the container, as a container path.

    Each hop's parent is opened by the kernel confined to the root; the target
    text is joined lexically, as dockerd's FollowSymlinkInScope does.
    """
    current = "/" + path.strip("/")
    with _opened(os.open(root, _DIR_PATH)) as root_fd:
        for _ in range(MAX_SYMLINKS):
            parent, name = split_container_path(current)
            try:
                with _opened(openat_in_root(root_fd, parent, _DIR_PATH)) as parent_fd:
                    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        return current
                    target = os.readlink(name, dir_fd=parent_fd)
            except OSError:
                return current  # dangling: the path it names, as dockerd reports it
            current = posixpath.normpath(posixpath.join(parent, target))
            current = "/" + current.lstrip("/")
    return current


class _BoundedFile:
    """Exactly ``size`` bytes of ``fd``: a file that shrinks while read is padded with zeros."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._left = size

    def read(self, n: int = -1) -> bytes:
        want = self._left if n < 0 else min(n, self._left)
        if want <= 0:
            return b""
        data = os.read(self._fd, want) or b"\0" * want
        self._left -= len(data)
        return data


class _TarWriter:
    """Writes entries of a walk through dirfds into a tar stream."""

    def __init__(self, out: BinaryIO, *, layer: bool = False) -> None:
        self._layer = layer
        """Writing a layer from an overlay upper dir: whiteouts become ``.wh.`` entries."""
        # Closed by close(): the writer lives across many add() calls.
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._links: dict[tuple[int, int], str] = {}

    def add(self, parent_fd: int, name: str, arcname: str) -> None:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if stat.S_ISSOCK(st.st_mode):
            return  # dockerd's archiver skips sockets too
        info = tarfile.TarInfo(arcname)
        info.mode = st.st_mode & 0o7777
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)  # whole seconds: no PAX record per entry
        key = (st.st_dev, st.st_ino)
        if self._layer and _init_placeholder(arcname, st):
            return
        if self._layer and is_whiteout(st):
            head, _, base = arcname.rpartition("/")
            info.name = f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base
            info.mode, info.uid, info.gid = 0o644, 0, 0
            self.tar.addfile(info)
        elif stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in self._links:
            info.type, info.linkname = tarfile.LNKTYPE, self._links[key]
            self.tar.addfile(info)
        elif stat.S_ISREG(st.st_mode):
            self._add_file(parent_fd, name, info, key, st.st_nlink)
        elif stat.S_ISDIR(st.st_mode):
            self._add_dir(parent_fd, name, info)
        elif stat.S_ISLNK(st.st_mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=parent_fd)
            self.tar.addfile(info)
        else:
            info.type = {stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE}.get(
                stat.S_IFMT(st.st_mode), tarfile.FIFOTYPE)
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(info)

    def _add_file(self, parent_fd: int, name: str, info: tarfile.TarInfo,
                  key: tuple[int, int], nlink: int) -> None:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=parent_fd)
        except (FileNotFoundError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP):
                return  # removed or swapped for a symlink meanwhile: nothing to copy
            raise
        with _opened(fd):
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return
            info.size = st.st_size
            self.tar.addfile(info, _BoundedFile(fd, st.st_size))
        if nlink > 1:
            self._links[key] = info.name

    def _add_dir(self, parent_fd: int, name: str, info: tarfile.TarInfo) -> None:
        info.type = tarfile.DIRTYPE
        if info.name and not info.name.endswith("/"):
            info.name += "/"  # as dockerd's archiver names directories
        if info.name and info.name != "./":
            self.tar.addfile(info)
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                return
            raise
        with _opened(fd):
            if self._layer and info.name and _is_opaque(fd):
                opaque = tarfile.TarInfo(f"{info.name.rstrip('/')}/{OPAQUE_WHITEOUT}")
                opaque.mtime = info.mtime
                self.tar.addfile(opaque)
            for child in sorted(os.listdir(fd)):  # noqa: PTH208 (a dirfd, not a path)
                arcname = f"{info.name.rstrip('/')}/{child}" if info.name else child
                with contextlib.suppress(FileNotFoundError):
                    self.add(fd, child, arcname)

    def close(self) -> None:
        self.tar.close()


def _init_placeholder(arcname: str, st: os.stat_result) -> bool:
    """An empty mount point of the runtime's own files, which dockerd never commits."""
    if "/" + arcname.rstrip("/") not in INIT_PATHS:
        return False
    return stat.S_ISDIR(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_size == 0)


def _is_opaque(dir_fd: int) -> bool:
    try:
        return os.getxattr(dir_fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def write_layer_tar(upper: str, out: BinaryIO) -> None:
    """An overlay upper dir as a layer archive (``docker commit``)."""
    with _opened(os.open(upper, _DIR_PATH)) as upper_fd:
        writer = _TarWriter(out, layer=True)
        writer.add(upper_fd, ".", "")
        writer.close()


def write_path_tar(root: str, path: str, container: str, out: BinaryIO) -> None:
    """``GET /containers/{id}/archive``: ``path`` as a tar named after its last component."""
    with _parent_of(root, path, container) as (parent_fd, name):
        _lstat(parent_fd, name, path, container)
        arcname = name
        writer = _TarWriter(out)
        writer.add(parent_fd, name, arcname)
        writer.close()


def write_export_tar(root: str, out: BinaryIO) -> None:
    """``GET /containers/{id}/export``: the whole root filesystem, names relative to it."""
    with _opened(os.open(root, _DIR_PATH)) as root_fd:
        writer = _TarWriter(out)
        writer.add(root_fd, ".", "")
        writer.close()


@dataclass(frozen=True)
class ExtractOptions:
    no_overwrite_dir_non_dir: bool = False
    owner: tuple[int, int] | None = None
    """uid/gid every entry gets (``copyUIDGID``); None keeps the archive's."""


class _CopyExtractor(TreeWriter):
    """The layer extractor without whiteout semantics, with docker cp's options."""

    def __init__(self, root_fd: int, options: ExtractOptions) -> None:
        super().__init__(root_fd)
        self.options = options

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        parts = clean_parts(member.name)
        if not parts:
            return
        *parent_parts, name = parts
        with self.root.directory(parent_parts, create=True) as parent:
            if self.options.no_overwrite_dir_non_dir:
                _check_overwrite(parent, name, member)
            self.create_entry(parent, name, member, tar)
            if member.islnk():
                return
            if self.options.owner is not None:
                member.uid, member.gid = self.options.owner
            apply_metadata(parent, name, member)
        if member.isdir():
            self.dir_times.append((parts, int(member.mtime * 1_000_000_000)))


def _check_overwrite(parent: int, name: str, member: tarfile.TarInfo) -> None:
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) and not member.isdir():
        raise InvalidArgument(
            f"cannot overwrite directory {name!r} with non-directory {member.name!r}")
    if not stat.S_ISDIR(st.st_mode) and member.isdir():
        raise InvalidArgument(
            f"cannot overwrite non-directory {name!r} with directory {member.name!r}")


def extract_tar(root: str, path: str, container: str, raw: BinaryIO,
                options: ExtractOptions) -> None:
    """``PUT /containers/{id}/archive``: unpack ``raw`` into the directory ``path``."""
    with _opened(os.open(root, _DIR_PATH)) as root_fd:
        try:
            fd = openat_in_root(root_fd, path, os.O_PATH | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP):
                raise _not_found(path, container) from None
            if exc.errno == errno.ENOTDIR:
                raise InvalidArgument("extraction point is not a directory") from None
            raise
    with _opened(fd):
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InvalidArgument("extraction point is not a directory")
        extractor = _CopyExtractor(fd, options)
        tar = open_tar_stream(open_uncompressed(raw))
        current = "?"
        try:
            for member in tar:
                current = member.name
                extractor.apply(member, tar)
            extractor.finish()
        except tarfile.TarError as exc:
            raise InvalidArgument(f"invalid tar archive: {exc}") from None
        except OSError as exc:
            if exc.errno == errno.EROFS:  # a --read-only rootfs or a :ro mount
                raise Forbidden(f"cannot write {current!r}: the container's filesystem "
                                "is read-only there") from None
            raise InvalidArgument(
                f"error extracting {current!r}: {exc.strerror or exc}") from None
        while raw.read(CHUNK):  # drain: the client's upload must not be cut short
            pass

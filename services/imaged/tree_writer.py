"""Write tar entries into a directory so that no entry reaches outside it.

Shared by the layer unpacker (:mod:`services.imaged.unpack`, which adds
whiteouts) and ``docker cp`` into a container (:mod:`services.imaged.container_fs`).
Every path is resolved component by component from a file descriptor of the
target directory (``openat``-style, ``O_NOFOLLOW``), never by string joining:

- entry names are cleaned; one that climbs above the root with ``..`` is refused;
  absolute names are taken relative to the root (as dockerd does);
- a symlink met on the way is followed *inside* the root: absolute targets
  restart at the root, ``..`` stops at it (Docker's FollowSymlinkInScope);
  the final component is never followed, so a write replaces a symlink
  instead of writing through it;
- hard-link targets are resolved the same way, so they can only name files
  already extracted inside the root.

Ownership, modes (setuid included), xattrs, times, hard links and device nodes
are kept. Blocking: callers run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator

from services.common.errors import InvalidArgument
from services.imaged.archive import CHUNK

MAX_SYMLINKS = 40
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
DIR_FLAGS = _PATH_FLAGS | os.O_DIRECTORY
_IS_ROOT = os.geteuid() == 0


class UnsafeArchive(InvalidArgument):
    """An archive entry would reach outside the target, or the archive is malformed."""


def clean_parts(name: str, what: str = "entry") -> list[str]:
    """The components of an archive path, ``.`` and empty ones dropped, ``..`` applied.

    A path that climbs above the root is refused; a leading ``/`` is ignored.
    """
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeArchive(
                    f"invalid archive: {what} {name!r} points outside the target directory"
                )
            parts.pop()
            continue
        parts.append(part)
    return parts


class TreeRoot:
    """The target directory, held open; resolves paths in it without leaving it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @contextlib.contextmanager
    def directory(self, parts: list[str], *, create: bool) -> Iterator[int]:
        """An O_PATH fd of the directory ``parts``; symlinks on the way stay inside the root.

        Missing directories are made (mode 0755, as dockerd) when ``create``.
        """
        fd = self._resolve(parts, create=create)
        try:
            yield fd
        finally:
            os.close(fd)

    def _resolve(self, parts: list[str], *, create: bool) -> int:
        pending = list(parts)
        trail: list[int] = []  # fds of the directories above ``current``, for ".."
        current = os.dup(self.fd)
        links = 0
        try:
            while pending:
                part = pending.pop(0)
                if part in ("", "."):
                    continue
                if part == "..":
                    if trail:
                        os.close(current)
                        current = trail.pop()
                    continue
                try:
                    st = os.stat(part, dir_fd=current, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=current)
                    st = os.stat(part, dir_fd=current, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise UnsafeArchive("invalid archive: too many levels of symbolic links")
                    target = os.readlink(part, dir_fd=current)
                    if target.startswith("/"):
                        for fd in trail:
                            os.close(fd)
                        trail.clear()
                        os.close(current)
                        current = os.dup(self.fd)
                    pending[:0] = target.split("/")
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory", part)
                child = os.open(part, DIR_FLAGS, dir_fd=current)
                trail.append(current)
                current = child
            return current
        except BaseException:
            os.close(current)
            raise
        finally:
            for fd in trail:
                os.close(fd)


def remove_existing(parent: int, name: str, keep_dir: bool) -> None:
    """Make room for a new entry ``name``; a directory stays if the new entry is one too."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return
        shutil.rmtree(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def _proc_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _set_xattrs(parent: int, name: str, member: tarfile.TarInfo) -> None:
    xattrs = {
        key[len("SCHILY.xattr.") :]: value
        for key, value in member.pax_headers.items()
        if key.startswith("SCHILY.xattr.")
    }
    if not xattrs or member.issym():
        return
    fd = os.open(name, _PATH_FLAGS, dir_fd=parent)
    try:
        for key, value in xattrs.items():
            if key.startswith("trusted.overlay."):
                continue  # only our whiteout conversion may steer overlayfs
            with contextlib.suppress(PermissionError, OSError):
                os.setxattr(_proc_path(fd), key, value.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def apply_metadata(parent: int, name: str, member: tarfile.TarInfo) -> None:
    if _IS_ROOT:
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
    if not member.issym():
        # After chown, which clears setuid/setgid bits.
        os.chmod(name, member.mode & 0o7777, dir_fd=parent)
    _set_xattrs(parent, name, member)
    if not member.isdir():
        mtime_ns = int(member.mtime * 1_000_000_000)
        os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=parent, follow_symlinks=False)


class TreeWriter:
    """Writes tar entries under a directory held open; see the module's rules."""

    def __init__(self, root_fd: int) -> None:
        self.root = TreeRoot(root_fd)
        self.dir_times: list[tuple[list[str], int]] = []

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        parts = clean_parts(member.name)
        if not parts:
            return  # the root itself ("./"): dockerd keeps the target's own metadata
        *parent_parts, name = parts
        with self.root.directory(parent_parts, create=True) as parent:
            self.create_entry(parent, name, member, tar)
            if member.islnk():
                return  # a hard link shares its target's inode and metadata
            apply_metadata(parent, name, member)
        if member.isdir():
            self.dir_times.append((parts, int(member.mtime * 1_000_000_000)))

    def create_entry(
        self, parent: int, name: str, member: tarfile.TarInfo, tar: tarfile.TarFile
    ) -> None:
        remove_existing(parent, name, keep_dir=member.isdir())
        if member.isdir():
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent)
        elif member.isreg():
            self._write_file(parent, name, member, tar)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
        elif member.islnk():
            self._hard_link(parent, name, member)
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = stat.S_IFIFO
            if member.ischr() or member.isblk():
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor) if not member.isfifo() else 0
            os.mknod(name, kind | 0o600, device, dir_fd=parent)
        else:
            raise UnsafeArchive(
                f"invalid archive: unsupported entry type {member.type!r} for {member.name!r}"
            )

    def _write_file(
        self, parent: int, name: str, member: tarfile.TarInfo, tar: tarfile.TarFile
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=parent)
        with os.fdopen(fd, "wb") as out:
            source = tar.extractfile(member)
            if source is None:
                return
            while chunk := source.read(CHUNK):
                out.write(chunk)

    def _hard_link(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        target_parts = clean_parts(member.linkname, "hard link target")
        if not target_parts:
            raise UnsafeArchive(f"invalid archive: hard link {member.name!r} to the root")
        *dir_parts, target = target_parts
        try:
            with self.root.directory(dir_parts, create=False) as source_dir:
                st = os.stat(target, dir_fd=source_dir, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    raise UnsafeArchive(
                        f"invalid archive: hard link {member.name!r} to a directory"
                    )
                os.link(target, name, src_dir_fd=source_dir, dst_dir_fd=parent,
                        follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            raise UnsafeArchive(
                f"invalid archive: hard link {member.name!r} names {member.linkname!r}, "
                "which is not in the archive before it"
            ) from None

    def finish(self) -> None:
        # Directory times last: creating entries inside a directory changes its mtime.
        for parts, mtime_ns in reversed(self.dir_times):
            *parent_parts, name = parts
            with contextlib.suppress(OSError), self.root.directory(
                parent_parts, create=False
            ) as parent:
                os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=parent, follow_symlinks=False)

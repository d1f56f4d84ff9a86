"""Extract a layer archive into a directory so that no entry reaches outside it.

Entries are written by :mod:`services.imaged.tree_writer` (paths resolved from
a file descriptor of the target, symlinks and hard links kept inside it); PAX /
GNU long headers are bounded (:mod:`services.imaged.archive`).

Whiteouts become overlayfs whiteouts: ``.wh.NAME`` → a 0/0 character device
``NAME``; ``.wh..wh..opq`` → ``trusted.overlay.opaque=y`` on its directory.
Ownership, modes (setuid included), xattrs, times, hard links and device nodes
are kept. Extraction runs in imaged's own process, in a worker thread.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from services.common.errors import Internal
from services.imaged.archive import hashing, open_tar_stream, open_uncompressed
from services.imaged.tree_writer import (
    DIR_FLAGS,
    MAX_SYMLINKS,
    TreeWriter,
    UnsafeArchive,
    clean_parts,
    remove_existing,
)

__all__ = [
    "MAX_SYMLINKS",
    "OPAQUE_WHITEOUT",
    "OPAQUE_XATTR",
    "WHITEOUT_META_PREFIX",
    "WHITEOUT_PREFIX",
    "LayerWriter",
    "Unpacked",
    "UnsafeArchive",
    "clean_parts",
    "disk_usage",
    "unpack",
]

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
# Errors that say the host is in trouble, not the archive.
_HOST_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM})


@dataclass(frozen=True)
class Unpacked:
    """What one extraction produced."""

    diff_id: str
    """sha256 of the whole uncompressed stream: the layer's DiffID."""
    size: int
    """Bytes of file content, each inode once (what dockerd reports as the layer size)."""
    tar_size: int = 0
    """Length of the uncompressed stream in bytes (what the DiffID hashes)."""


class LayerWriter(TreeWriter):
    """The tree writer with a layer's whiteouts turned into overlayfs ones."""

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        parts = clean_parts(member.name)
        if parts and parts[-1].startswith(WHITEOUT_PREFIX):
            self._whiteout(parts[:-1], parts[-1])
            return
        super().apply(member, tar)

    def _whiteout(self, parent_parts: list[str], name: str) -> None:
        with self.root.directory(parent_parts, create=True) as parent:
            if name == OPAQUE_WHITEOUT:
                fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)
                try:
                    os.setxattr(fd, OPAQUE_XATTR, b"y")
                finally:
                    os.close(fd)
                return
            if name.startswith(WHITEOUT_META_PREFIX):
                return  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to apply
            target = name[len(WHITEOUT_PREFIX) :]
            if target in ("", ".", ".."):
                raise UnsafeArchive(f"invalid archive: bad whiteout {name!r}")
            remove_existing(parent, target, keep_dir=False)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)


def unpack(raw: BinaryIO, target: str) -> Unpacked:
    """Extract the (possibly compressed) layer archive ``raw`` into the empty dir ``target``."""
    stream, digester = hashing(open_uncompressed(raw))
    root_fd = os.open(target, DIR_FLAGS)
    try:
        extractor = LayerWriter(root_fd)
        tar = open_tar_stream(stream)
        current = "?"
        try:
            for member in tar:
                current = member.name
                extractor.apply(member, tar)
            extractor.finish()
        except tarfile.TarError as exc:
            raise UnsafeArchive(f"invalid tar archive: {exc}") from None
        except OSError as exc:
            detail = f"error extracting {current!r}: {exc.strerror or exc}"
            if exc.errno in _HOST_ERRNOS:
                raise Internal(detail) from None
            raise UnsafeArchive(f"invalid archive: {detail}") from None
        digester.drain()
        # Python's tarfile takes a header cut short for the end of the archive;
        # a tar stream is whole 512-byte blocks, so a remainder means truncation.
        if digester.count % tarfile.BLOCKSIZE:
            raise UnsafeArchive("invalid tar archive: unexpected end of data")
    finally:
        os.close(root_fd)
    return Unpacked(diff_id=digester.digest, size=disk_usage(target),
                    tar_size=digester.count)


def disk_usage(path: str) -> int:
    """moby's directory.Size: sizes of non-directories, each inode counted once."""
    seen: set[int] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*filenames, *dirnames):
            st = os.lstat(f"{dirpath}/{name}")
            if stat.S_ISDIR(st.st_mode) or st.st_size == 0 or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_size
    return total

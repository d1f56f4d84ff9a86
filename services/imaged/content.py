"""The content store: immutable blobs named by their sha256 digest.

Layout under ``<data-root>/image/``::

    blobs/sha256/<hex>   one file per blob (image configs now; manifests and
                         compressed layer blobs with pull/push/save)
    tmp/                 blobs being written; emptied at start-up

A blob is written to ``tmp/``, hashed while it streams, fsynced, and renamed
into place only when its digest matches the one expected: a reader never sees
a partial or wrong blob. Which blobs are still wanted is decided by
:mod:`services.imaged.gc` from the records in etcd.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from services.common.errors import InvalidArgument, NotFound

_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _check(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise InvalidArgument(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return digest


class BlobStore:
    """Blobs under ``root`` (``<data-root>/image``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.tmp = root / "tmp"

    def setup(self) -> None:
        """Create the directories; drop blobs a crash left half written."""
        self.blobs.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.blobs / _check(digest).partition(":")[2]

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def write(self, chunks: Iterable[bytes], expected: str | None = None) -> tuple[str, int]:
        """Store a blob streamed as ``chunks``; return its digest and size.

        With ``expected``, a blob whose bytes hash differently is refused and
        nothing is stored. Writing a blob that exists already is a no-op.
        """
        if expected is not None:
            _check(expected)
        hasher = hashlib.sha256()
        size = 0
        partial = self.tmp / uuid.uuid4().hex
        try:
            with open(partial, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = "sha256:" + hasher.hexdigest()
            if expected is not None and digest != expected:
                raise InvalidArgument(
                    f"digest mismatch: expected {expected}, the content hashes to {digest}"
                )
            target = self.path(digest)
            if not target.exists():
                partial.chmod(0o444)
                partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return digest, size

    def write_bytes(self, data: bytes) -> str:
        digest, _ = self.write([data])
        return digest

    def delete(self, digest: str) -> bool:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def digests(self) -> list[str]:
        """Every stored blob's digest."""
        with contextlib.suppress(FileNotFoundError):
            names = (p.name for p in self.blobs.iterdir())
            return sorted("sha256:" + n for n in names if re.fullmatch(r"[a-f0-9]{64}", n))
        return []

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

"""Reading layer archives: decompression by magic number, digests, bounded tar headers.

A layer or ``import`` body arrives as a byte stream that may be plain tar,
gzip, bzip2, xz or zstd (zstd only when the ``zstandard`` module is
installed). The uncompressed stream's sha256 is the layer's DiffID, so it is
hashed as it is read, including any padding after the end-of-archive blocks.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import tarfile
import zlib
from typing import Any, BinaryIO, Protocol

from services.common.errors import InvalidArgument

CHUNK = 1 << 20

# Go's archive/tar refuses PAX and GNU long-name headers over 1 MiB; so do we,
# before Python's tarfile reads the whole header into memory.
MAX_SPECIAL_HEADER = 1 << 20

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class HashingReader(io.RawIOBase):
    """Reads ``inner`` and hashes every byte that passes through."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.hasher = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        if not data:
            return 0
        n = len(data)
        buffer[:n] = data
        self.hasher.update(data)
        self.count += n
        return n

    def drain(self) -> None:
        """Read to the end so the digest covers the whole stream."""
        buffer = bytearray(CHUNK)
        while self.readinto(buffer):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hasher.hexdigest()


class DecompressingReader(io.RawIOBase):
    """A file over the decompressed bytes of ``inner`` (any of the formats above)."""

    def __init__(self, inner: BinaryIO, decompressor: _Decompressor, name: str) -> None:
        self._inner = inner
        self._decompressor = decompressor
        self._name = name
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._eof:
            raw = self._inner.read(CHUNK)
            try:
                if not raw:
                    self._eof = True
                    flush = getattr(self._decompressor, "flush", None)
                    self._pending = flush() if flush is not None else b""
                    if not getattr(self._decompressor, "eof", True):
                        raise InvalidArgument(f"unexpected end of {self._name} stream")
                else:
                    self._pending = self._decompressor.decompress(raw)
            except (zlib.error, OSError, lzma.LZMAError, EOFError) as exc:
                raise InvalidArgument(f"invalid {self._name} stream: {exc}") from None
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _zstd_decompressor() -> _Decompressor:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        raise InvalidArgument(
            "zstd-compressed archives are not supported on this host (no zstandard module)"
        ) from None
    decompressor: _Decompressor = zstandard.ZstdDecompressor().decompressobj()
    return decompressor


def open_uncompressed(raw: BinaryIO) -> BinaryIO:
    """``raw`` decompressed according to its first bytes; plain tar passes through."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(
        raw if isinstance(raw, io.RawIOBase) else _RawAdapter(raw), CHUNK
    )
    head = buffered.peek(6)[:6]
    decompressor: _Decompressor
    if head.startswith(_GZIP):
        decompressor, name = _MultiGzip(), "gzip"
    elif head.startswith(_ZSTD):
        decompressor, name = _zstd_decompressor(), "zstd"
    elif head.startswith(_BZIP2):
        decompressor, name = bz2.BZ2Decompressor(), "bzip2"
    elif head.startswith(_XZ):
        decompressor, name = lzma.LZMADecompressor(), "xz"
    else:
        return buffered
    return io.BufferedReader(DecompressingReader(buffered, decompressor, name), CHUNK)


class _MultiGzip:
    """gzip allowing several concatenated members, as ``gzip -c a b`` writes."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(32 + 15)
        self.eof = False

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = []
        while data:
            out.append(self._d.decompress(data))
            if self._d.eof:
                data = self._d.unused_data
                self._d = zlib.decompressobj(32 + 15)
                self.eof = True
            else:
                self.eof = False
                data = b""
        return b"".join(out)

    def flush(self) -> bytes:
        return self._d.flush()


class _RawAdapter(io.RawIOBase):
    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


class BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses oversized PAX / GNU long-name headers before reading them."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        special = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                   tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
        if self.type in special and self.size > MAX_SPECIAL_HEADER:
            raise InvalidArgument(
                f"invalid tar archive: header of {self.size} bytes exceeds the "
                f"{MAX_SPECIAL_HEADER}-byte limit"
            )
        member: tarfile.TarInfo = super()._proc_member(tar)  # type: ignore[misc]
        return member


def open_tar_stream(stream: BinaryIO) -> tarfile.TarFile:
    """A forward-only TarFile over ``stream`` with bounded headers."""
    try:
        return tarfile.open(fileobj=stream, mode="r|", tarinfo=BoundedTarInfo)
    except tarfile.ReadError as exc:
        raise InvalidArgument(f"invalid tar archive: {exc}") from None


def hashing(stream: BinaryIO) -> tuple[BinaryIO, HashingReader]:
    """``stream`` wrapped so that all bytes read are hashed; the reader exposes ``digest``."""
    reader = HashingReader(stream)
    return io.BufferedReader(reader, CHUNK), reader

"""gzip of rotated container logs, as dockerd's json-file driver writes them (``compress``).

dockerd compresses ``<id>-json.log.1`` into ``<id>-json.log.1.gz`` once the
log has moved on, and puts ``{"lastTime":"<RFC 3339 nano>"}`` (the time of the
file's last entry) in the gzip header's FEXTRA field: ``docker logs --since``
skips a compressed file whose last entry is older without unpacking it. The
header is written by hand since Python's gzip module cannot write FEXTRA; the
rest of it is what Go's compress/gzip writes (no name, mtime 0, OS 255).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

GZIP_SUFFIX = ".gz"
_MAGIC = b"\x1f\x8b"
_DEFLATE = 8
_FLAG_EXTRA = 0x04
_OS_UNKNOWN = 255
_LEVEL = 6
"""Go's gzip.DefaultCompression."""


def go_rfc3339_nano(nanos: int) -> str:
    """A UTC time as Go's time.RFC3339Nano prints it (trailing fractional zeros dropped)."""
    stamp = datetime.fromtimestamp(nanos // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos % 1_000_000_000:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def header(last_nanos: int | None) -> bytes:
    """The gzip member header, with dockerd's lastTime metadata when the time is known."""
    extra = b""
    if last_nanos is not None:
        extra = json.dumps({"lastTime": go_rfc3339_nano(last_nanos)},
                           separators=(",", ":")).encode()
    flags = _FLAG_EXTRA if extra else 0
    fixed = _MAGIC + struct.pack("<BBIBB", _DEFLATE, flags, 0, 0, _OS_UNKNOWN)
    return fixed + (struct.pack("<H", len(extra)) + extra if extra else b"")


def compress_bytes(data: bytes, last_nanos: int | None) -> bytes:
    """``data`` as one gzip member carrying dockerd's header metadata."""
    packer = zlib.compressobj(_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = packer.compress(data) + packer.flush()
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return header(last_nanos) + body + trailer


def last_time_nanos(head: bytes) -> int | None:
    """The lastTime dockerd keeps in a gzip header (the first bytes of the file); None
    when there is none or it cannot be read (the file is then simply read)."""
    if len(head) < 12 or head[:2] != _MAGIC or not head[3] & _FLAG_EXTRA:
        return None
    (length,) = struct.unpack_from("<H", head, 10)
    extra = head[12:12 + length]
    if len(extra) != length:
        return None
    try:
        return _parse_time(str(json.loads(extra)["lastTime"]))
    except (ValueError, KeyError, TypeError):
        return None


def _parse_time(text: str) -> int:
    # Imported when called: the reader (logfile) imports rotation, which imports this.
    from services.execd.logfile import parse_time

    return parse_time(text)


def last_entry_nanos(data: bytes) -> int | None:
    """The time of the last entry of a log file's content (conmon's lines start with it)."""
    for line in reversed(data.rstrip(b"\n").split(b"\n")):
        stamp = line.split(b" ", 1)[0]
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            return _parse_time(stamp.decode())
    return None


def compress_file(plain: Path) -> Path:
    """Replace the rotated file ``plain`` by ``plain.gz``; the gzip appears whole (by
    rename) before ``plain`` goes, so a reader always finds one complete copy."""
    target = plain.with_name(plain.name + GZIP_SUFFIX)
    temporary = plain.with_name(plain.name + GZIP_SUFFIX + ".tmp")
    data = plain.read_bytes()
    try:
        with open(temporary, "wb") as out:
            out.write(compress_bytes(data, last_entry_nanos(data)))
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(0o640)
        temporary.rename(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    plain.unlink(missing_ok=True)
    return target


def decompress(data: bytes) -> bytes:
    """The content of a gzip file (every member, as Go's reader concatenates them)."""
    out = bytearray()
    while data:
        unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += unpacker.decompress(data)
        if not unpacker.eof:
            raise zlib.error("truncated gzip file")
        data = unpacker.unused_data
    return bytes(out)


"""Docker's stdcopy framing of stdout and stderr on one connection.

Without a TTY each chunk is preceded by 8 bytes: the stream (0 stdin, 1 stdout,
2 stderr, 3 system error), three zero bytes and the payload's length as a
big-endian uint32. With a TTY the bytes go raw.
"""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, SYSTEM_ERROR = 0, 1, 2, 3
_HEADER = struct.Struct(">BxxxI")
HEADER_SIZE = _HEADER.size


def frame(stream: int, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


def unframe(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Complete frames in ``buffer`` and the bytes left over."""
    frames: list[tuple[int, bytes]] = []
    offset = 0
    while len(buffer) - offset >= HEADER_SIZE:
        stream, size = _HEADER.unpack_from(buffer, offset)
        end = offset + HEADER_SIZE + size
        if end > len(buffer):
            break
        frames.append((stream, buffer[offset + HEADER_SIZE:end]))
        offset = end
    return frames, buffer[offset:]

"""Detach keys of attach and exec (``ctrl-p,ctrl-q`` by default), as Docker parses them."""

from __future__ import annotations

from services.common.errors import InvalidArgument

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def _key(text: str) -> int:
    # One byte, as Go counts a string's length: "é" is two, and no key.
    if len(text.encode()) == 1:
        return ord(text)
    if text.startswith("ctrl-") and len(text) == 6:
        char = text[5]
        if char == "@":
            return 0
        if "a" <= char <= "z":
            return ord(char) - ord("a") + 1
        if char in "[\\]^_":
            return ord(char) - ord("[") + 27
    raise InvalidArgument(f"Invalid detach keys ({text}) provided")


def parse_detach_keys(spec: str) -> DetachKeys:
    keys = bytes(_key(part.strip()) for part in (spec or DEFAULT_DETACH_KEYS).split(","))
    return DetachKeys(keys)


class DetachKeys:
    """Scans stdin for the sequence; bytes of a partial match are held back until decided."""

    def __init__(self, sequence: bytes) -> None:
        self.sequence = sequence
        self._held = b""

    def scan(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to pass on, whether the sequence was typed)."""
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes([byte])
            if self.sequence.startswith(candidate):
                if candidate == self.sequence:
                    self._held = b""
                    return bytes(out), True
                self._held = candidate
                continue
            out += candidate
            self._held = b""
        return bytes(out), False

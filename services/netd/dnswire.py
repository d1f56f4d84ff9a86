"""Just enough of the DNS wire format (RFC 1035) for the embedded resolver, as pure code.

It reads the question of a query and writes answers of A records or an empty
answer with a response code; everything else is forwarded byte for byte.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

TYPE_A = 1
CLASS_IN = 1
NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
REFUSED = 5
FLAG_QR = 0x8000
FLAG_RD = 0x0100
FLAG_RA = 0x0080
OPCODE_MASK = 0x7800
HEADER = struct.Struct("!HHHHHH")
TTL = 600
"""dockerd's embedded DNS answers with a 600 s TTL."""


class MalformedQuery(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    id: int
    flags: int
    name: str
    """Lower-case, without the trailing dot."""
    qtype: int
    qclass: int
    raw_question: bytes
    """The question section as received, echoed in the answer."""


def parse_query(data: bytes) -> Question:
    if len(data) < HEADER.size:
        raise MalformedQuery("short header")
    qid, flags, qdcount, _, _, _ = HEADER.unpack_from(data)
    if flags & FLAG_QR or qdcount != 1:
        raise MalformedQuery("not a single-question query")
    labels = []
    pos = HEADER.size
    while True:
        if pos >= len(data):
            raise MalformedQuery("truncated name")
        length = data[pos]
        pos += 1
        if length == 0:
            break
        if length & 0xC0 or pos + length > len(data):
            raise MalformedQuery("bad label")
        labels.append(data[pos:pos + length].decode("ascii", errors="replace"))
        pos += length
    if pos + 4 > len(data):
        raise MalformedQuery("truncated question")
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    return Question(qid, flags, ".".join(labels).lower(), qtype, qclass,
                    data[HEADER.size:pos + 4])


def _flags(query: Question, rcode: int, authoritative: bool = False) -> int:
    flags = FLAG_QR | (query.flags & (OPCODE_MASK | FLAG_RD)) | FLAG_RA | rcode
    return flags | (0x0400 if authoritative else 0)


def answer(query: Question, addresses: Sequence[IPv4Address]) -> bytes:
    """A response with one A record per address (none for other types: NOERROR, empty)."""
    records = b""
    if query.qtype == TYPE_A:
        for address in addresses:
            # 0xC00C: a pointer to the name in the question, right after the header.
            records += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + address.packed
        count = len(addresses)
    else:
        count = 0
    header = HEADER.pack(query.id, _flags(query, NOERROR), 1, count, 0, 0)
    return header + query.raw_question + records


def error(query: Question, rcode: int) -> bytes:
    return HEADER.pack(query.id, _flags(query, rcode), 1, 0, 0, 0) + query.raw_question


def error_for_raw(data: bytes, rcode: int) -> bytes:
    """An error answer to a query that could not be parsed (header only)."""
    qid = HEADER.unpack_from(data)[0] if len(data) >= 2 and len(data) >= HEADER.size else 0
    return HEADER.pack(qid, FLAG_QR | rcode, 0, 0, 0, 0)

"""Pure parts of the json-file ``compress`` option: options, dockerd's gzip files, reading them."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.execd.logcompress import (
    compress_bytes,
    compress_file,
    go_rfc3339_nano,
    last_time_nanos,
)
from services.execd.logfile import _read_all
from services.execd.logrotate import (
    RotationPolicy,
    compress_rotated,
    log_files,
    rotate_if_full,
)

BASE = 1_795_813_835_000_000_000  # 2026-11-27T21:10:35Z


def line(n: int) -> bytes:
    return f"2026-11-27T21:10:{35 + n // 100:02d}.{n % 100:02d}0000000Z stdout F line {n:03d}\n" \
        .encode()


def nanos_of(n: int) -> int:
    return BASE + (n // 100) * 1_000_000_000 + (n % 100) * 10_000_000


def test_compress_is_read_as_dockerd_reads_it() -> None:
    policy = RotationPolicy.from_options({"max-size": "1k", "max-file": "3", "compress": "true"})
    assert (policy.compress, policy.rotates) == (True, True)
    assert not RotationPolicy.from_options({"max-size": "1k", "max-file": "3"}).compress
    off = RotationPolicy.from_options({"compress": "False"})  # false needs no rotation
    assert not off.compress
    assert RotationPolicy.from_options(
        {"max-file": "2", "compress": "1"}, default_max_size=2048).compress


@pytest.mark.parametrize("options, message", [
    ({"max-size": "1k", "compress": "true"},
     "failed to initialize logging driver: compress cannot be true when max-file is less "
     "than 2 or max-size is not set"),
    ({"max-file": "3", "compress": "true"}, "max-size is not set"),
    ({"max-size": "1k", "max-file": "3", "compress": "yes"},
     'failed to initialize logging driver: strconv.ParseBool: parsing "yes": invalid syntax'),
])
def test_bad_compress_is_refused_with_dockerds_words(
        options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        RotationPolicy.from_options(options)
    assert message in str(raised.value)


def test_go_time_format_drops_trailing_zeros() -> None:
    assert go_rfc3339_nano(BASE) == "2026-11-27T21:10:35Z"
    assert go_rfc3339_nano(BASE + 120_000_000) == "2026-11-27T21:10:35.12Z"
    assert go_rfc3339_nano(BASE + 1) == "2026-11-27T21:10:35.000000001Z"


def test_gzip_header_is_go_s_with_dockerds_last_time() -> None:
    data = line(1) + line(2)
    packed = compress_bytes(data, nanos_of(2))
    assert gzip.decompress(packed) == data
    flags, mtime, _, os_byte = struct.unpack_from("<BIBB", packed, 3)
    assert (packed[:3], flags, mtime, os_byte) == (b"\x1f\x8b\x08", 0x04, 0, 255)
    (length,) = struct.unpack_from("<H", packed, 10)
    assert json.loads(packed[12:12 + length]) == {"lastTime": "2026-11-27T21:10:35.02Z"}
    assert last_time_nanos(packed) == nanos_of(2)
    assert last_time_nanos(gzip.compress(data)) is None  # a gzip without dockerd's extra


def test_compress_file_replaces_the_plain_file(tmp_path: Path) -> None:
    plain = tmp_path / "c-json.log.1"
    plain.write_bytes(line(1) + line(7))
    packed = compress_file(plain)
    assert packed.name == "c-json.log.1.gz" and not plain.exists()
    assert gzip.decompress(packed.read_bytes()) == line(1) + line(7)
    assert last_time_nanos(packed.read_bytes()) == nanos_of(7)
    assert packed.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["c-json.log.1.gz"]


def write_and_rotate(log: Path, first: int, count: int, policy: RotationPolicy) -> None:
    """Lines ``first`` … as conmon would write them, then one rotation (conmon reopens)."""
    with open(log, "ab") as f:
        f.write(b"".join(line(n) for n in range(first, first + count)))

    def reopen() -> bool:
        log.touch()
        return True

    assert rotate_if_full(log, policy, reopen)
    compress_rotated(log, policy)


def test_rotated_files_are_gzipped_shifted_and_read_in_order(tmp_path: Path) -> None:
    policy = RotationPolicy.from_options({"max-size": "245", "max-file": "3", "compress": "true"})
    log = tmp_path / "c-json.log"
    for first in (0, 5, 10, 15):  # 5 lines of 49 bytes: one rotated file each time
        write_and_rotate(log, first, 5, policy)
    with open(log, "ab") as f:
        f.write(line(20))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["c-json.log", "c-json.log.1.gz", "c-json.log.2.gz"]
    assert gzip.decompress((tmp_path / "c-json.log.2.gz").read_bytes()) == b"".join(
        line(n) for n in range(10, 15))
    assert [e.data for e in _read_all(log)] == [
        f"line {n:03d}\n".encode() for n in range(10, 21)]
    # --since past every entry of .2.gz: its header says so, it is not even unpacked.
    (tmp_path / "c-json.log.2.gz").write_bytes(
        compress_bytes(b"", nanos_of(14))[:-8] + b"not deflate")
    assert [e.data for e in _read_all(log, since_nanos=nanos_of(15))][:1] == [b"line 015\n"]


def test_a_rotation_cut_into_several_pieces_compresses_each(tmp_path: Path) -> None:
    policy = RotationPolicy.from_options({"max-size": "98", "max-file": "4", "compress": "1"})
    log = tmp_path / "c-json.log"
    write_and_rotate(log, 0, 7, policy)  # 7 lines (2 a piece) arrived before the rotation
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c-json.log", "c-json.log.1.gz", "c-json.log.2.gz", "c-json.log.3.gz"]
    assert [e.data for e in _read_all(log)] == [
        f"line {n:03d}\n".encode() for n in range(2, 7)]  # lines 0-1 went with a 4th piece


def test_plain_leftovers_are_compressed_and_preferred_while_both_exist(tmp_path: Path) -> None:
    policy = RotationPolicy.from_options({"max-size": "80", "max-file": "3", "compress": "true"})
    log = tmp_path / "c-json.log"
    log.write_bytes(line(9))
    (tmp_path / "c-json.log.2.gz").write_bytes(compress_bytes(line(1), nanos_of(1)))
    (tmp_path / "c-json.log.1").write_bytes(line(2))  # an execd went before compressing it
    (tmp_path / "c-json.log.1.gz").write_bytes(compress_bytes(line(2), nanos_of(2)))
    assert [p.name for p in log_files(log)][:2] == ["c-json.log.2.gz", "c-json.log.1"]
    assert [e.data for e in _read_all(log)] == [b"line 001\n", b"line 002\n", b"line 009\n"]
    compress_rotated(log, policy)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c-json.log", "c-json.log.1.gz", "c-json.log.2.gz"]
    # A file listed plain but compressed before it is opened is read from its .gz.
    assert [e.data for e in _read_all(log)] == [b"line 001\n", b"line 002\n", b"line 009\n"]

"""Pure parts of json-file rotation: options, cutting a full log into rotated files."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.execd.logrotate import RotationPolicy, log_files, split_lines


def test_options_as_dockerd_reads_them() -> None:
    policy = RotationPolicy.from_options({"max-size": "1k", "max-file": "3"})
    assert (policy.max_size, policy.max_file, policy.rotates) == (1024, 3, True)
    assert policy.conmon_size_max == -1  # execd rotates, conmon must not truncate
    alone = RotationPolicy.from_options({"max-size": "10m"})
    assert (alone.rotates, alone.conmon_size_max) == (False, 10 * 1024**2)
    assert RotationPolicy.from_options({}, default_max_size=2048).conmon_size_max == 2048
    assert not RotationPolicy.from_options({"max-file": "5"}).rotates  # no size: no limit


@pytest.mark.parametrize("value, message", [
    ("0", "max-file cannot be less than 1"),
    ("x", 'parsing "x": invalid syntax'),
])
def test_bad_max_file(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        RotationPolicy.from_options({"max-size": "1k", "max-file": value})


def test_split_keeps_lines_whole_and_pieces_small() -> None:
    data = b"".join(f"line {i:03d}\n".encode() for i in range(10))  # 9 bytes each
    pieces = split_lines(data, 20)
    assert b"".join(pieces) == data
    assert all(len(p) <= 20 for p in pieces)
    assert [len(p) for p in pieces] == [18, 18, 18, 18, 18]
    assert split_lines(b"x" * 50 + b"\nend\n", 20) == [b"x" * 50 + b"\n", b"end\n"]


def test_files_are_listed_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    for name in ("c-json.log.10", "c-json.log.2", "c-json.log.1", "c-json.log", "other.1"):
        (tmp_path / name).write_text("")
    assert [p.name for p in log_files(log)] == [
        "c-json.log.10", "c-json.log.2", "c-json.log.1", "c-json.log.rotating", "c-json.log"]


def _line(n: int) -> bytes:
    return f"2026-11-28T00:00:00.{n:09d}Z stdout F line {n}\n".encode()


def test_reading_follows_the_live_file_across_a_rotation(tmp_path: Path) -> None:
    from services.execd.logfile import _LiveFile, _read_all

    log = tmp_path / "c-json.log"
    log.write_bytes(_line(1) + _line(2))
    live = _LiveFile(log)
    assert [e.data for e in _read_all(log, live)] == [b"line 1\n", b"line 2\n"]
    with open(log, "ab") as f:  # conmon writes on, then the log is renamed aside
        f.write(_line(3) + b"2026-11-28T00:00:00.000000004Z stdout P par")
    log.rename(tmp_path / "c-json.log.1")
    assert [e.data for e in live.read_new()] == [b"line 3\n"]  # the partial line waits
    with open(tmp_path / "c-json.log.1", "ab") as f:
        f.write(b"t\n")
    log.write_bytes(_line(5))  # conmon reopened: a new file at the path
    assert [e.data for e in live.read_new()] == [b"part", b"line 5\n"]
    live.close()
    assert [e.data for e in _read_all(log)] == [
        b"line 1\n", b"line 2\n", b"line 3\n", b"part", b"line 5\n"]

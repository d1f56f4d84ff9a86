"""Image filters, import --change instructions, and the archive reader's safety checks."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.imaged import filters as flt
from services.imaged.changes import apply_changes
from services.imaged.reference import parse_normalized
from services.imaged.unpack import UnsafeArchive, clean_parts, unpack


def test_labels() -> None:
    labels = {"a": "1", "b": "2"}
    assert flt.labels_match({"label": ("a",)}, labels)
    assert flt.labels_match({"label": ("a=1", "b")}, labels)
    assert not flt.labels_match({"label": ("a=2",)}, labels)
    assert not flt.labels_match({"label!": ("b",)}, labels)
    assert flt.labels_match({"label!": ("c",)}, labels)


def test_reference_patterns() -> None:
    ref = parse_normalized("me/app:1.0")
    assert flt.reference_matches("me/app", ref)
    assert flt.reference_matches("me/*", ref)
    assert flt.reference_matches("me/app:1.*", ref)
    assert not flt.reference_matches("*", ref)  # "*" does not cross "/"
    assert flt.reference_matches("busybox", parse_normalized("busybox:latest"))


def test_bools_and_names() -> None:
    assert flt.bool_filter({"dangling": ("true",)}, "dangling", False)
    assert not flt.bool_filter({"dangling": ("0",)}, "dangling", True)
    assert flt.bool_filter({}, "dangling", True)
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=maybe'"):
        flt.bool_filter({"dangling": ("maybe",)}, "dangling", False)
    with pytest.raises(InvalidArgument, match="invalid filter 'nope'"):
        flt.check_filters({"nope": ("1",)}, flt.LIST_FILTERS)


def test_until_timestamps() -> None:
    now = 1_700_000_000.0
    assert flt.parse_timestamp("1h", now) == now - 3600
    assert flt.parse_timestamp("1h30m", now) == now - 5400
    assert flt.parse_timestamp("1600000000", now) == 1_600_000_000
    assert flt.parse_timestamp("2024-01-01T00:00:00Z", now) == 1_704_067_200
    assert flt.parse_timestamp("2024-01-01", now) == 1_704_067_200
    with pytest.raises(InvalidArgument):
        flt.parse_timestamp("yesterday", now)


def test_changes() -> None:
    config = apply_changes([
        'CMD ["sh"]', "ENTRYPOINT /init --flag", "ENV A=1 B=\"two words\"", "ENV A 3",
        "EXPOSE 80 53/udp 8000-8001", "LABEL x=y", "USER nobody", "VOLUME /data",
        "WORKDIR /srv", "WORKDIR app", "STOPSIGNAL SIGINT",
    ])
    assert config["Cmd"] == ["sh"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/init --flag"]
    assert config["Env"] == ["B=two words", "A=3"]
    assert set(config["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert config["Labels"] == {"x": "y"}
    assert config["User"] == "nobody"
    assert config["Volumes"] == {"/data": {}}
    assert config["WorkingDir"] == "/srv/app"
    assert config["StopSignal"] == "SIGINT"
    assert apply_changes([])["Env"] is None
    with pytest.raises(InvalidArgument, match="run is not a valid change command"):
        apply_changes(["RUN echo"])


def test_clean_parts() -> None:
    assert clean_parts("./a/b/../c/") == ["a", "c"]
    assert clean_parts("/etc/passwd") == ["etc", "passwd"]
    with pytest.raises(UnsafeArchive, match="outside the target"):
        clean_parts("a/../../etc")


def _tar(build: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in build:
            tar.addfile(info, io.BytesIO(data[info.name]) if info.name in data else None)
    return buffer.getvalue()


def _file(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def test_unpack_gzip_and_digest(tmp_path: Path) -> None:
    import gzip
    import hashlib

    raw = _tar([_file("a/b", 3)], {"a/b": b"abc"})
    result = unpack(io.BytesIO(gzip.compress(raw)), str(tmp_path))
    assert result.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert (tmp_path / "a" / "b").read_bytes() == b"abc"
    assert result.size == 3


def test_unpack_refuses_truncation_and_huge_headers(tmp_path: Path) -> None:
    raw = _tar([_file("a", 2000)], {"a": b"x" * 2000})
    with pytest.raises(UnsafeArchive, match="unexpected end of data"):
        unpack(io.BytesIO(raw[:1200]), str(tmp_path))
    big = tarfile.TarInfo("big")
    big.pax_headers = {"comment": "x" * (2 << 20)}
    with pytest.raises(InvalidArgument, match="exceeds"):
        unpack(io.BytesIO(_tar([big], {})), str(tmp_path))

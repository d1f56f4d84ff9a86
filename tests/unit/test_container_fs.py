"""docker cp's filesystem side on a temporary root: stat, tar out, extract in, confinement."""

from __future__ import annotations

import base64
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from gateway.routes.container_archive import stat_header
from services.common.errors import InvalidArgument, NotFound
from services.imaged.container_fs import (
    ExtractOptions,
    extract_tar,
    go_file_mode,
    go_time,
    stat_path,
    write_export_tar,
    write_path_tar,
)
from services.imaged.container_root import container_root
from services.imaged.initlayer import without_init_paths
from services.imaged.inroot import split_container_path
from services.imaged.models import PathStat, SnapshotChange


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A container root whose /x is a symlink to / and whose /etc/shadow is its own."""
    base = tmp_path / "root"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "shadow").write_text("container\n")
    (base / "tmp").mkdir()
    (base / "x").symlink_to("/")
    (base / "up").symlink_to("../../..")
    return base


def _tar(entries: dict[str, bytes | None]) -> io.BytesIO:
    """A tar of files (bytes) and directories (None)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    out.seek(0)
    return out


def _members(data: bytes) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            reader = tar.extractfile(member) if member.isreg() else None
            found[member.name] = reader.read() if reader else None
    return found


def test_go_file_mode_sets_go_type_bits() -> None:
    assert go_file_mode(stat.S_IFREG | 0o644) == 0o644
    assert go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_file_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600
    assert go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755


def test_go_time_trims_trailing_zeros() -> None:
    assert go_time(0) == "1970-01-01T00:00:00Z"
    assert go_time(1_500_000_000) == "1970-01-01T00:00:01.5Z"


def test_split_container_path() -> None:
    assert split_container_path("/etc/hostname") == ("/etc", "hostname")
    assert split_container_path("/etc/") == ("/etc", ".")
    assert split_container_path("/etc/.") == ("/etc/.", ".")
    assert split_container_path("/") == ("/", ".")
    assert split_container_path("/top") == ("/", "top")


def test_stat_header_is_base64_json_in_dockerds_field_order() -> None:
    header = stat_header(PathStat("f", 3, 0o644, "1970-01-01T00:00:00Z", ""))
    assert base64.b64decode(header) == (
        b'{"name":"f","size":3,"mode":420,"mtime":"1970-01-01T00:00:00Z","linkTarget":""}'
    )


def test_stat_follows_parents_in_the_root_and_reports_link_targets(root: Path) -> None:
    st = stat_path(str(root), "/x/etc/shadow", "c")
    assert (st.name, st.size, st.mode) == ("shadow", len("container\n"), 0o644)
    link = stat_path(str(root), "/x", "c")
    assert link.mode & (1 << 27) and link.link_target == "/"
    assert stat_path(str(root), "/up", "c").link_target == "/"
    with pytest.raises(NotFound, match="Could not find the file /nope in container c"):
        stat_path(str(root), "/nope", "c")


def test_tar_out_through_a_symlink_to_root_reads_the_containers_file(root: Path) -> None:
    out = io.BytesIO()
    write_path_tar(str(root), "/x/etc/shadow", "c", out)
    assert _members(out.getvalue()) == {"shadow": b"container\n"}
    out = io.BytesIO()
    write_path_tar(str(root), "/up/up/etc", "c", out)
    assert _members(out.getvalue())["etc/shadow"] == b"container\n"


def test_extract_through_symlinks_lands_inside_the_root(root: Path) -> None:
    extract_tar(str(root), "/x/tmp", "c", _tar({"evil": b"e"}), ExtractOptions())
    assert (root / "tmp" / "evil").read_bytes() == b"e"
    extract_tar(str(root), "/up/tmp", "c", _tar({"d/": None, "d/f": b"f"}), ExtractOptions())
    assert (root / "tmp" / "d" / "f").read_bytes() == b"f"
    with pytest.raises(InvalidArgument, match="outside"):
        extract_tar(str(root), "/tmp", "c", _tar({"../../escape": b"x"}), ExtractOptions())
    assert not (root.parent / "escape").exists()


def test_extract_refuses_a_file_as_destination_and_missing_paths(root: Path) -> None:
    with pytest.raises(InvalidArgument, match="extraction point is not a directory"):
        extract_tar(str(root), "/etc/shadow", "c", _tar({"a": b""}), ExtractOptions())
    with pytest.raises(NotFound):
        extract_tar(str(root), "/missing", "c", _tar({"a": b""}), ExtractOptions())


def test_no_overwrite_dir_non_dir(root: Path) -> None:
    options = ExtractOptions(no_overwrite_dir_non_dir=True)
    with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
        extract_tar(str(root), "/", "c", _tar({"etc": b"file"}), options)
    with pytest.raises(InvalidArgument, match="cannot overwrite non-directory"):
        extract_tar(str(root), "/etc", "c", _tar({"shadow/": None}), options)
    assert (root / "etc" / "shadow").read_text() == "container\n"
    extract_tar(str(root), "/etc", "c", _tar({"shadow": b"new\n"}), options)
    assert (root / "etc" / "shadow").read_text() == "new\n"


def test_export_names_entries_relative_to_the_root(root: Path) -> None:
    os.link(root / "etc" / "shadow", root / "tmp" / "hard")
    out = io.BytesIO()
    write_export_tar(str(root), out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        members = {m.name: m for m in tar}
    assert {"etc", "etc/shadow", "tmp", "x", "up"} <= set(members)
    assert members["x"].issym() and members["x"].linkname == "/"
    assert members["tmp/hard"].islnk() and members["tmp/hard"].linkname == "etc/shadow"


def test_diff_hides_the_init_files_and_directories_changed_only_by_them() -> None:
    changes = [SnapshotChange("/etc", 0), SnapshotChange("/etc/hostname", 1),
               SnapshotChange("/etc/hosts", 1), SnapshotChange("/tmp", 0),
               SnapshotChange("/tmp/new", 1)]
    assert without_init_paths(changes) == [SnapshotChange("/tmp", 0),
                                           SnapshotChange("/tmp/new", 1)]
    changes.append(SnapshotChange("/etc/passwd", 0))
    assert [c.path for c in without_init_paths(changes)] == [
        "/etc", "/tmp", "/tmp/new", "/etc/passwd"]


def test_a_pid_outside_the_containers_cgroup_is_not_its_root() -> None:
    """A stale pid (reused by a host process) must not make the host's root the container's."""
    container_id = "ab" * 32
    with container_root("/snapshot", container_id, os.getpid()) as root:
        assert root == "/snapshot"
    with container_root("/snapshot", container_id, 0) as root:
        assert root == "/snapshot"

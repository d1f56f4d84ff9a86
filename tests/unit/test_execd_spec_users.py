"""--user and --group-add resolved in the image's passwd/group, confined to its rootfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common import rootfs_files
from services.common.errors import InvalidArgument
from services.common.rootfs_files import read_rootfs_file, resolve_in_root
from services.common.users import resolve_user
from services.execd.spec import build_spec
from tests.unit.execd_spec_helpers import make_inputs, make_rootfs


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path / "rootfs")


@pytest.fixture(params=["openat2", "lexical"])
def resolution(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run confinement tests both with the kernel's openat2 and the lexical fallback."""
    if request.param == "lexical":
        monkeypatch.setattr(rootfs_files, "_openat2_missing", True)
    return str(request.param)


UserIds = tuple[int, int, tuple[int, ...]]


def user_of(rootfs: Path, spec: str, group_add: tuple[str, ...] = ()) -> UserIds:
    resolved = resolve_user(str(rootfs), spec, group_add)
    return resolved.uid, resolved.gid, resolved.additional_gids


@pytest.mark.parametrize(("spec", "expected"), [
    # No user: root, with root's groups (wheel lists root).
    ("", (0, 0, (0, 10))),
    ("root", (0, 0, (0, 10))),
    # A name: its uid, primary gid, then the groups that list it.
    ("app", (1000, 1000, (1000, 10, 29))),
    # A number with an entry behaves like the name.
    ("1000", (1000, 1000, (1000, 10, 29))),
    # An explicit group replaces the primary gid and drops the member groups.
    ("app:audio", (1000, 29, (29,))),
    ("app:0", (1000, 0, (0,))),
    # Numbers need no entries.
    ("4242", (4242, 0, (0,))),
    ("4242:4343", (4242, 4343, (4343,))),
    ("daemon:nogroup", (1, 65534, (65534,))),
    # Leading/trailing blanks of a passwd line are ignored.
    ("nobody", (65534, 65534, (65534,))),
])
def test_user_specs(rootfs: Path, spec: str, expected: UserIds) -> None:
    assert user_of(rootfs, spec) == expected


def test_group_add_by_name_and_number_after_the_users_groups(rootfs: Path) -> None:
    assert user_of(rootfs, "app", ("daemon", "5000", "audio")) == (
        1000, 1000, (1000, 10, 29, 1, 5000, 29))


@pytest.mark.parametrize(("spec", "group_add", "message"), [
    ("foo", (), "unable to find user foo: no matching entries in passwd file"),
    ("app:nosuch", (), "unable to find group nosuch: no matching entries in group file"),
    ("app", ("nosuch",), "Unable to find group nosuch: no matching entries in group file"),
    ("-5", (), "uids and gids must be in range 0-2147483647"),
    ("1:2147483648", (), "uids and gids must be in range 0-2147483647"),
])
def test_unknown_users_and_groups(
    rootfs: Path, spec: str, group_add: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_user(str(rootfs), spec, group_add)
    assert caught.value.message == message


def test_without_passwd_and_group_numbers_work_and_names_do_not(tmp_path: Path) -> None:
    bare = make_rootfs(tmp_path / "bare", passwd=None, group=None)
    assert user_of(bare, "") == (0, 0, (0,))
    assert user_of(bare, "1234:5678", ("99",)) == (1234, 5678, (5678, 99))
    with pytest.raises(InvalidArgument, match="unable to find user app: no matching entries"):
        resolve_user(str(bare), "app")
    with pytest.raises(InvalidArgument, match="unable to find group staff: no matching entries"):
        resolve_user(str(bare), "0:staff")


def test_spec_user_field(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, config={"User": "app"},
                                  host_config={"GroupAdd": ["daemon"]}))
    assert spec["process"]["user"] == {
        "uid": 1000, "gid": 1000, "additionalGids": [1000, 10, 29, 1]}
    image_user = build_spec(make_inputs(rootfs, image_config={"User": "daemon"}))
    assert image_user["process"]["user"] == {"uid": 1, "gid": 1, "additionalGids": [1]}


# --- confinement to the rootfs ------------------------------------------------------


def outside_passwd(tmp_path: Path) -> Path:
    """A passwd outside the rootfs that must never be read."""
    outside = tmp_path / "host-etc"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    return outside


def test_absolute_symlink_to_outside_resolves_inside(
    tmp_path: Path, resolution: str
) -> None:
    outside = outside_passwd(tmp_path)
    rootfs = make_rootfs(tmp_path / "rootfs", passwd=None)
    (rootfs / "etc" / "passwd").symlink_to(str(outside / "passwd"))
    assert (rootfs / "etc" / "passwd").read_text().startswith("evil:")
    # The same path inside the rootfs holds the image's own file.
    inside = rootfs / str(outside).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "passwd").write_text("app:x:77:77::/:/bin/sh\n")
    assert user_of(rootfs, "app") == (77, 77, (77, 10, 29))
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        resolve_user(str(rootfs), "evil")


def test_dotdot_symlink_cannot_climb_out(tmp_path: Path, resolution: str) -> None:
    outside_passwd(tmp_path)
    rootfs = make_rootfs(tmp_path / "rootfs", passwd=None)
    # Followed by the host from rootfs/etc, ../../host-etc/passwd is the outside file.
    (rootfs / "etc" / "passwd").symlink_to("../../host-etc/passwd")
    assert (rootfs / "etc" / "passwd").read_text().startswith("evil:")
    assert read_rootfs_file(str(rootfs), "/etc/passwd") is None
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        resolve_user(str(rootfs), "evil")


def test_symlinked_etc_directory_is_followed_inside(tmp_path: Path, resolution: str) -> None:
    rootfs = tmp_path / "rootfs"
    make_rootfs(rootfs / "real")
    (rootfs / "etc").symlink_to("/real/etc")
    assert user_of(rootfs, "app")[0] == 1000
    assert resolve_in_root(str(rootfs), "/etc/passwd") == str(rootfs / "real/etc/passwd")


def test_symlink_loop_and_fifo_and_directory_are_not_files(
    tmp_path: Path, resolution: str
) -> None:
    rootfs = make_rootfs(tmp_path / "rootfs", passwd=None, group=None)
    (rootfs / "etc" / "loop1").symlink_to("/etc/loop2")
    (rootfs / "etc" / "loop2").symlink_to("/etc/loop1")
    (rootfs / "etc" / "passwd").symlink_to("/etc/loop1")
    os.mkfifo(rootfs / "etc" / "group")  # must not block the daemon
    assert read_rootfs_file(str(rootfs), "/etc/group") is None
    (rootfs / "etc" / "shadow").mkdir()
    assert read_rootfs_file(str(rootfs), "/etc/shadow") is None
    assert user_of(rootfs, "7:8") == (7, 8, (8,))
    with pytest.raises(InvalidArgument):
        resolve_user(str(rootfs), "app")

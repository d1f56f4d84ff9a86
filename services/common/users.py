"""Resolve Docker's ``--user`` and ``--group-add`` against the image's passwd and group files.

The rules are runc's libcontainer/user (which dockerd calls): ``user[:group]``,
each a name or a number; a number needs no entry in the files, a name does; a
matched user without an explicit group gets the groups that list it as a member;
the process's additional gids are its primary gid, those groups, then GroupAdd.

Shared by execd (the process of a start or an exec) and imaged (``docker cp -a``
owns what it copies as the container's user).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.common.errors import InvalidArgument
from services.common.rootfs_files import read_rootfs_file

PASSWD_PATH = "/etc/passwd"
GROUP_PATH = "/etc/group"
MAX_ID = 2**31 - 1
_NUMBER = re.compile(r"[+-]?\d+")
RANGE_ERROR = "uids and gids must be in range 0-2147483647"


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str = "/"

    def to_oci(self) -> dict[str, object]:
        return {"uid": self.uid, "gid": self.gid, "additionalGids": list(self.additional_gids)}


def _number(text: str) -> int | None:
    return int(text) if _NUMBER.fullmatch(text) else None


def _fields(line: str, count: int) -> list[str]:
    parts = line.split(":")
    return (parts + [""] * count)[:count]


def parse_passwd(text: str) -> list[PasswdEntry]:
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _, uid, gid, _, home, _ = _fields(line, 7)
        entries.append(PasswdEntry(name, _number(uid) or 0, _number(gid) or 0, home))
    return entries


def parse_group(text: str) -> list[GroupEntry]:
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _, gid, members = _fields(line, 4)
        listed = tuple(member for member in members.split(",") if member)
        entries.append(GroupEntry(name, _number(gid) or 0, listed))
    return entries


def _in_range(value: int) -> int:
    if not 0 <= value <= MAX_ID:
        raise InvalidArgument(RANGE_ERROR)
    return value


def _read(rootfs: str, path: str) -> str | None:
    data = read_rootfs_file(rootfs, path)
    return None if data is None else data.decode("utf-8", errors="replace")


def resolve_user(
    rootfs: str, user_spec: str, group_add: Sequence[str] = ()
) -> ResolvedUser:
    """The uid, gid and additional gids ``user_spec`` means inside ``rootfs``."""
    passwd_text = _read(rootfs, PASSWD_PATH)
    group_text = _read(rootfs, GROUP_PATH)
    passwd = parse_passwd(passwd_text) if passwd_text is not None else []
    groups = parse_group(group_text) if group_text is not None else []

    user_arg, _, rest = user_spec.partition(":")
    group_arg = rest.split(":", 1)[0]
    uid_number = _number(user_arg)
    gid_number = _number(group_arg)

    uid, gid, home = 0, 0, "/"
    matched_name = ""
    if user_arg == "":
        match = next((entry for entry in passwd if entry.uid == 0), None)
    elif uid_number is not None:
        match = next((entry for entry in passwd if entry.uid == uid_number), None)
    else:
        match = next((entry for entry in passwd if entry.name == user_arg), None)
    if match is not None:
        matched_name, uid, gid, home = match.name, match.uid, match.gid, match.home
    elif user_arg:
        if uid_number is None:
            raise InvalidArgument(
                f"unable to find user {user_arg}: no matching entries in passwd file"
            )
        uid = _in_range(uid_number)

    supplementary: list[int] = []
    if group_arg:
        if gid_number is not None:
            found = next((g for g in groups if g.gid == gid_number), None)
        else:
            found = next((g for g in groups if g.name == group_arg), None)
        if found is not None:
            gid = found.gid
        elif gid_number is None:
            raise InvalidArgument(
                f"unable to find group {group_arg}: no matching entries in group file"
            )
        else:
            gid = _in_range(gid_number)
    elif matched_name:
        supplementary = [g.gid for g in groups if matched_name in g.members]

    added = additional_groups(group_add, groups) if group_add else []
    return ResolvedUser(uid, gid, (gid, *supplementary, *added), home)


def additional_groups(requested: Iterable[str], groups: Sequence[GroupEntry]) -> list[int]:
    """GroupAdd: names or numbers; a name must be in the group file, a number need not."""
    gids: list[int] = []
    for wanted in requested:
        found = next(
            (g for g in groups if g.name == wanted or str(g.gid) == wanted), None
        )
        if found is not None:
            gid = found.gid
        else:
            number = _number(wanted)
            if number is None:
                raise InvalidArgument(
                    f"Unable to find group {wanted}: no matching entries in group file"
                )
            gid = _in_range(number)
        if gid not in gids:
            gids.append(gid)
    return gids

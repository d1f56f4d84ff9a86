"""The local driver's options (``type``, ``o``, ``device``) and how they become a mount(2).

As dockerd's local driver: with options, the volume's ``_data`` directory is
the mount point of ``device`` (filesystem ``type``, options ``o``) while any
container uses the volume. ``o`` is split as moby/sys/mount does: the words it
knows become mount flags (``bind``, ``ro``, ``nosuid`` …), the rest is the
filesystem's data string (``size=10m,uid=1000``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.errors import InvalidArgument

VALID_OPTIONS = frozenset({"type", "o", "device", "size"})
# Which options need which others (moby's mandatoryOpts).
_REQUIRES = {"device": ("type",), "type": ("device",), "o": ("device",)}

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
PROPAGATION = MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED

# word → (clear?, flag), as moby/sys/mount's flags table.
_FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0), "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY),
    "suid": (True, MS_NOSUID), "nosuid": (False, MS_NOSUID),
    "dev": (True, MS_NODEV), "nodev": (False, MS_NODEV),
    "exec": (True, MS_NOEXEC), "noexec": (False, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS), "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC), "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME), "noatime": (False, MS_NOATIME),
    "diratime": (True, MS_NODIRATIME), "nodiratime": (False, MS_NODIRATIME),
    "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
    "unbindable": (False, MS_UNBINDABLE), "runbindable": (False, MS_UNBINDABLE | MS_REC),
    "private": (False, MS_PRIVATE), "rprivate": (False, MS_PRIVATE | MS_REC),
    "shared": (False, MS_SHARED), "rshared": (False, MS_SHARED | MS_REC),
    "slave": (False, MS_SLAVE), "rslave": (False, MS_SLAVE | MS_REC),
    "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME), "nostrictatime": (True, MS_STRICTATIME),
}


def check_options(options: Mapping[str, str] | None) -> None:
    """dockerd's validation of local driver options (messages without ``create NAME:``)."""
    if not options:
        return
    for key in sorted(options):
        if key not in VALID_OPTIONS:
            raise InvalidArgument(f'invalid option: "{key}"')
    if "size" in options:
        raise InvalidArgument("quota size requested but no quota support")
    for key, needed in _REQUIRES.items():
        if key in options:
            for other in needed:
                if other not in options:
                    raise InvalidArgument(f'missing required option: "{other}"')


def has_mount(options: Mapping[str, str] | None) -> bool:
    """Whether the volume is a driver mount (tmpfs, bind, a filesystem) rather than a dir."""
    return bool(options) and bool((options or {}).get("device"))


@dataclass(frozen=True)
class MountSpec:
    device: str
    fstype: str
    flags: int
    data: str

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & MS_BIND)


def parse_mount(options: Mapping[str, str]) -> MountSpec:
    """moby/sys/mount's parseOptions of ``o``: known words are flags, the rest is data."""
    flags = 0
    data: list[str] = []
    for word in (options.get("o") or "").split(","):
        if not word:
            continue
        known = _FLAGS.get(word)
        if known is None:
            data.append(word)
            continue
        clear, flag = known
        flags = flags & ~flag if clear else flags | flag
    return MountSpec(options.get("device", ""), options.get("type", ""), flags, ",".join(data))

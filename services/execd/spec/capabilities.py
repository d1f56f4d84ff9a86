"""Docker's capability sets: 14 by default, tweaked by CapAdd/CapDrop, all when privileged."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.errors import InvalidArgument

# Every capability by number (linux/capability.h); the kernel knows 0..cap_last_cap.
ALL_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

# moby's oci/caps DefaultCapabilities, in its order (the order the spec lists them).
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

ALL = "ALL"


def host_capabilities(last_cap: int, bounding_set: int = -1) -> list[str]:
    """The capabilities the host kernel knows, within ``bounding_set`` (a CapBnd mask).

    What a privileged container gets: all the kernel knows that Dockyard holds.
    """
    known = ALL_CAPABILITIES[: last_cap + 1]
    return [cap for number, cap in enumerate(known) if bounding_set >> number & 1]


def normalize(caps: Sequence[str], last_cap: int) -> list[str]:
    """Upper-case, ``CAP_``-prefixed names; "ALL" kept; unknown ones refused."""
    known = set(host_capabilities(last_cap))
    normalized = []
    for cap in caps:
        name = cap.upper()
        if name != ALL and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != ALL and name not in known:
            raise InvalidArgument(f'unknown capability: "{name}"')
        normalized.append(name)
    return normalized


def validate(cap_add: Sequence[str], cap_drop: Sequence[str], last_cap: int) -> None:
    """dockerd's create-time check, with its exact messages."""
    for field_name, caps in (("CapAdd", cap_add), ("CapDrop", cap_drop)):
        try:
            normalize(caps, last_cap)
        except InvalidArgument as error:
            raise InvalidArgument(f"invalid {field_name}: {error.message}") from None


def container_capabilities(
    cap_add: Sequence[str], cap_drop: Sequence[str], privileged: bool, last_cap: int,
    bounding_set: int = -1,
) -> list[str]:
    """moby's TweakCapabilities over the 14 defaults.

    "ALL" in CapAdd means every capability but the dropped ones; "ALL" in
    CapDrop means only the added ones; otherwise drop then add (an added
    default appears twice, as in dockerd: harmless to runc).
    """
    validate(cap_add, cap_drop, last_cap)
    if privileged:
        return host_capabilities(last_cap, bounding_set)
    if not cap_add and not cap_drop:
        return list(DEFAULT_CAPABILITIES)
    drops = normalize(cap_drop, last_cap)
    adds = normalize(cap_add, last_cap)
    if ALL in adds:
        return [cap for cap in host_capabilities(last_cap, bounding_set) if cap not in drops]
    if ALL in drops:
        return adds
    return [cap for cap in DEFAULT_CAPABILITIES if cap not in drops] + adds


def capability_sets(caps: Sequence[str], uid: int) -> dict[str, list[str]]:
    """process.capabilities as moby's SetCapabilities writes them.

    Inheritable stays empty and ambient unset (CVE-2022-24769). A non-root
    process gets only the bounding set, as execve would leave it: its
    effective and permitted sets are empty.
    """
    if uid != 0:
        return {"bounding": list(caps)}
    return {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)}

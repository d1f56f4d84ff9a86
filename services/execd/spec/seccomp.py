"""Docker seccomp profiles → the OCI spec's ``linux.seccomp``.

A Docker profile (moby's profiles/seccomp format) adds to the OCI object an
``archMap`` (the native arch and its sub-arches go into ``architectures``) and
per-rule ``includes``/``excludes`` conditions on the container's bounding
capabilities, the host architecture and the kernel version; rules whose
conditions fail are left out, as dockerd's setupSeccomp does. The built-in
profile is moby's default.json, shipped beside this module and parsed once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument

DEFAULT_PROFILE_PATH = Path(__file__).with_name("seccomp-default.json")

# Go arch name → libseccomp's name of the native architecture.
NATIVE_TO_SECCOMP = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "x32": "SCMP_ARCH_X32",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "mips": "SCMP_ARCH_MIPS",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel": "SCMP_ARCH_MIPSEL",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32",
    "mips64le": "SCMP_ARCH_MIPSEL64",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
}

# Fields of the OCI seccomp object copied as they are from a Docker profile.
_PASSTHROUGH = ("defaultErrnoRet", "listenerPath", "listenerMetadata", "flags")


@functools.cache
def _default_profile_text() -> str:
    return DEFAULT_PROFILE_PATH.read_text()


def default_profile() -> dict[str, Any]:
    """moby's default profile, parsed (a fresh copy: callers may not share it)."""
    profile: dict[str, Any] = json.loads(_default_profile_text())
    return profile


def load_profile(text: str) -> dict[str, Any]:
    """A profile sent as ``seccomp=<JSON>`` (the CLI sends the file's contents)."""
    try:
        profile = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidArgument(f"Decoding seccomp profile failed: {error}") from None
    if not isinstance(profile, dict):
        raise InvalidArgument(
            "Decoding seccomp profile failed: the profile is not a JSON object"
        )
    return profile


def _parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor.split(".")[0] or 0)
    except ValueError:
        raise InvalidArgument(f"invalid kernel version in seccomp profile: {text!r}") from None


def _matches(
    condition: Mapping[str, Any],
    arch: str,
    caps: Sequence[str],
    kernel: tuple[int, int],
    *,
    all_caps: bool,
) -> bool | None:
    """Per condition part: True/False when it is present, None when absent.

    ``includes`` needs every listed cap (``all_caps``); ``excludes`` fires on any.
    """
    verdicts: list[bool] = []
    if condition.get("arches"):
        verdicts.append(arch in condition["arches"])
    if condition.get("caps"):
        held = [cap in caps for cap in condition["caps"]]
        verdicts.append(all(held) if all_caps else any(held))
    if condition.get("minKernel"):
        verdicts.append(kernel >= _parse_version(str(condition["minKernel"])))
    if not verdicts:
        return None
    return all(verdicts) if all_caps else any(verdicts)


def _rule_applies(
    rule: Mapping[str, Any], arch: str, caps: Sequence[str], kernel: tuple[int, int]
) -> bool:
    excludes = rule.get("excludes") or {}
    if _matches(excludes, arch, caps, kernel, all_caps=False):
        return False
    includes = rule.get("includes") or {}
    return _matches(includes, arch, caps, kernel, all_caps=True) is not False


def _oci_arg(arg: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"index": int(arg.get("index", 0)), "value": int(arg.get("value", 0))}
    if arg.get("valueTwo"):
        out["valueTwo"] = int(arg["valueTwo"])
    out["op"] = arg.get("op", "")
    return out


def to_oci(
    profile: Mapping[str, Any], arch: str, caps: Sequence[str], kernel: tuple[int, int]
) -> dict[str, Any] | None:
    """The OCI ``linux.seccomp`` for ``profile`` on this host; None = no filter.

    ``caps`` is the container's bounding set: e.g. CAP_SYS_ADMIN brings in the
    mount family of syscalls and removes the clone flags restriction.
    """
    syscalls_in = profile.get("syscalls") or []
    if not profile.get("defaultAction") and not syscalls_in:
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "")}
    for key in _PASSTHROUGH:
        if profile.get(key) is not None:
            out[key] = profile[key]
    architectures = list(profile.get("architectures") or [])
    native = NATIVE_TO_SECCOMP.get(arch)
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            architectures += [native, *(entry.get("subArchitectures") or [])]
            break
    if architectures:
        out["architectures"] = architectures

    syscalls = []
    for rule in syscalls_in:
        names = list(rule.get("names") or [])
        if rule.get("name"):
            if names:
                raise InvalidArgument(
                    "both 'name' and 'names' were specified in the seccomp profile, "
                    "use either 'name' or 'names'"
                )
            names = [rule["name"]]
        if not _rule_applies(rule, arch, caps, kernel):
            continue
        call: dict[str, Any] = {"names": names, "action": rule.get("action", "")}
        if rule.get("errnoRet") is not None:
            call["errnoRet"] = int(rule["errnoRet"])
        if rule.get("args"):
            call["args"] = [_oci_arg(arg) for arg in rule["args"]]
        syscalls.append(call)
    if syscalls:
        out["syscalls"] = syscalls
    return out

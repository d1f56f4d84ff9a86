"""HostConfig.SecurityOpt, parsed as dockerd's parseSecurityOpt does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.common.errors import InvalidArgument

# dockerd's names for the built-in seccomp profile and for none.
SECCOMP_DEFAULT = "builtin"
SECCOMP_UNCONFINED = "unconfined"

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@dataclass(frozen=True)
class SecurityOptions:
    no_new_privileges: bool = False
    # "" = the daemon's default; "builtin"; "unconfined"; or a profile's JSON text.
    seccomp_profile: str = ""
    # Accepted and kept for inspect; this host has no AppArmor, so never applied.
    apparmor_profile: str = ""
    labels: tuple[str, ...] = ()


def _parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def parse_security_opts(
    options: Sequence[str], daemon_no_new_privileges: bool = False
) -> SecurityOptions:
    no_new_privileges = daemon_no_new_privileges
    seccomp = ""
    apparmor = ""
    labels: list[str] = []
    for opt in options:
        if opt == "no-new-privileges":
            no_new_privileges = True
            continue
        if opt == "disable":
            labels.append("disable")
            continue
        # "=" is the separator; ":" is the deprecated one, still accepted.
        if "=" in opt:
            key, _, value = opt.partition("=")
        elif ":" in opt:
            key, _, value = opt.partition(":")
        else:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
        if key == "label":
            labels.append(value)
        elif key == "apparmor":
            apparmor = value
        elif key == "seccomp":
            seccomp = value
        elif key == "no-new-privileges":
            parsed = _parse_bool(value)
            if parsed is None:
                raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
            no_new_privileges = parsed
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return SecurityOptions(no_new_privileges, seccomp, apparmor, tuple(labels))

"""Volume names as dockerd's local driver accepts them, and anonymous names."""

from __future__ import annotations

import re
import secrets

from services.common.errors import InvalidArgument

_VALID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_ALLOWED_TEXT = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
# A local volume is a directory named after it: Linux's NAME_MAX bounds the name.
MAX_NAME_LENGTH = 255


def check_name(name: str) -> str:
    """The name, or dockerd's error for it (without the ``create NAME:`` prefix)."""
    if len(name) == 1:
        raise InvalidArgument("volume name is too short, names should be at least two "
                              "alphanumeric characters")
    if not _VALID.match(name):
        raise InvalidArgument(
            f'"{name}" includes invalid characters for a local volume name, only '
            f'"{_ALLOWED_TEXT}" are allowed. If you intended to pass a host directory, '
            "use absolute path"
        )
    if len(name) > MAX_NAME_LENGTH:
        # dockerd fails the mkdir with a 500; the name is what is wrong.
        raise InvalidArgument(f"volume name is too long ({len(name)} characters), names "
                              f"should be at most {MAX_NAME_LENGTH} characters")
    return name


def anonymous_name() -> str:
    """A random 64-hex name, as dockerd's stringid.GenerateRandomID."""
    return secrets.token_hex(32)

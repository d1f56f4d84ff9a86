"""Registry credentials as clients send them: ``X-Registry-Auth`` and the body of ``/auth``.

``X-Registry-Auth`` is base64url-encoded JSON (``{"username", "password",
"serveraddress", "identitytoken", "registrytoken"}``; older clients send an
``auth`` field with base64 ``user:password``). For a pull dockerd ignores a
header it cannot decode (anonymous access); elsewhere it is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.common.errors import InvalidArgument
from services.imaged.registry.models import RegistryAuth

AUTH_HEADER = "X-Registry-Auth"


def _b64decode(text: str) -> bytes:
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        return base64.b64decode(padded)


def auth_from_json(data: Mapping[str, Any]) -> RegistryAuth:
    def text(key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else ""

    username, password = text("username"), text("password")
    if not username and text("auth"):
        try:
            username, _, password = _b64decode(text("auth")).decode().partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidArgument("invalid auth configuration: bad auth field") from None
    return RegistryAuth(username=username, password=password,
                        server_address=text("serveraddress"),
                        identity_token=text("identitytoken"),
                        registry_token=text("registrytoken"))


def registry_auth(request: web.Request, *, lenient: bool = False) -> RegistryAuth:
    """The credentials of ``X-Registry-Auth`` (none when absent)."""
    header = request.headers.get(AUTH_HEADER, "")
    if not header:
        return RegistryAuth()
    try:
        data = json.loads(_b64decode(header))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return auth_from_json(data)
    except (ValueError, binascii.Error, InvalidArgument) as exc:
        if lenient:
            return RegistryAuth()
        raise InvalidArgument(f"invalid X-Registry-Auth header: {exc}") from None

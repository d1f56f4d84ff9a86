"""Registry failures as typed errors, worded as dockerd words them.

A registry answers errors as ``{"errors": [{"code": "MANIFEST_UNKNOWN",
"message": "manifest unknown", ...}]}``; Docker's client renders one as
``<code in lower case, _ as space>: <message>`` ("manifest unknown: manifest
unknown"), and a 401 without a body as "unauthorized: authentication required".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from services.common.errors import (
    DockyardError,
    Forbidden,
    InvalidArgument,
    NotFound,
    Unauthorized,
    Unavailable,
)

# Go's http.StatusText for the statuses a registry sends.
_STATUS_TEXT = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 416: "Requested Range Not Satisfiable",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}
# The code's own message, for errors that come without one.
_CODE_MESSAGES = {
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "MANIFEST_UNKNOWN": "manifest unknown",
    "NAME_UNKNOWN": "repository name not known to registry",
    "BLOB_UNKNOWN": "blob unknown to registry",
    "TOOMANYREQUESTS": "too many requests",
}
NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "DENIED"})


def status_text(status: int) -> str:
    return f"{status} {_STATUS_TEXT.get(status, 'Unknown')}"


class RegistryNotFound(NotFound):
    """The registry does not have what was asked for; ``code`` says which kind."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class RegistryUnreachable(Unavailable):
    """No HTTP answer at all (refused, reset, TLS failure): the next endpoint may work."""


@dataclass(frozen=True)
class ErrorEntry:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code.lower().replace('_', ' ')}: {self.message}"


def parse_error_body(body: bytes) -> list[ErrorEntry]:
    try:
        data = json.loads(body)
    except ValueError:
        return []
    entries = data.get("errors") if isinstance(data, dict) else None
    out: list[ErrorEntry] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            code = entry["code"]
            message = entry.get("message")
            out.append(ErrorEntry(code, message if isinstance(message, str) and message
                                  else _CODE_MESSAGES.get(code, code.lower())))
    return out


def response_error(status: int, body: bytes) -> DockyardError:
    """The error a registry's non-success answer means."""
    entries = parse_error_body(body)
    if entries:
        first = entries[0]
        text = str(first)
        if first.code in NOT_FOUND_CODES:
            return RegistryNotFound(text, first.code)
        if first.code == "UNAUTHORIZED":
            return Unauthorized(text)
        if first.code == "TOOMANYREQUESTS":
            return Unavailable(text)
        if 400 <= status < 500:
            return InvalidArgument(text)
        return Unavailable(text)
    if status == 401:
        return Unauthorized("unauthorized: authentication required")
    if status == 403:
        return Forbidden(f"received unexpected HTTP status: {status_text(status)}")
    if status == 404:
        return RegistryNotFound(f"received unexpected HTTP status: {status_text(status)}", "")
    return Unavailable(f"received unexpected HTTP status: {status_text(status)}")


def not_found_for_pull(error: RegistryNotFound, familiar: str, familiar_name: str) -> NotFound:
    """dockerd's notFoundError: what ``docker pull`` says when the registry lacks the image."""
    if error.code == "DENIED":
        return NotFound(f"pull access denied for {familiar_name}, repository does not exist "
                        f"or may require 'docker login': {error.message}")
    if error.code == "NAME_UNKNOWN":
        return NotFound(f"repository {familiar_name} not found: {error.message}")
    return NotFound(f"manifest for {familiar} not found: {error.message}")

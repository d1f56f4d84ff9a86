"""Typed error kinds shared by every service and the gateway.

Domain code raises these; exactly one gRPC interceptor (``grpc_errors``) turns
them into status codes and exactly one gateway middleware turns them into HTTP
statuses. Nothing else decides a status code.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every error a user may see. ``message`` is shown verbatim."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DockyardError):
    """The named object does not exist (HTTP 404, gRPC NOT_FOUND)."""


class Conflict(DockyardError):
    """The request clashes with current state, e.g. a taken name (409, ALREADY_EXISTS)."""


class InvalidArgument(DockyardError):
    """The client sent something malformed or out of range (400, INVALID_ARGUMENT)."""


class NotModified(DockyardError):
    """The request asked for the state the object is already in (304, FAILED_PRECONDITION)."""


class Unauthorized(DockyardError):
    """Credentials are missing or wrong, e.g. a registry refused a login (401, UNAUTHENTICATED)."""


class Forbidden(DockyardError):
    """The operation is refused on this object, e.g. removing a built-in network (403)."""


class Unavailable(DockyardError):
    """A part the request needs is down or starting; retrying may succeed (503, UNAVAILABLE)."""


class Internal(DockyardError):
    """A bug or an unexpected failure of a real part (500, INTERNAL)."""

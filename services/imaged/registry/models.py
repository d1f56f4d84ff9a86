"""Values exchanged between imaged's registry operations, its client and the gateway."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials from ``X-Registry-Auth`` or the body of ``POST /auth``."""

    username: str = ""
    password: str = ""
    server_address: str = ""
    identity_token: str = ""
    """A refresh token from an earlier login, used instead of the password."""
    registry_token: str = ""
    """A bearer token to send as is."""

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password or self.identity_token or self.registry_token)


@dataclass(frozen=True)
class ProgressEvent:
    """One line of Docker's JSON message stream (``jsonmessage.JSONMessage``).

    ``detail`` says whether the line carries ``progressDetail`` (Docker's
    progress updates do, plain messages do not); ``current``/``total`` fill it.
    ``aux`` is a JSON document for the ``aux`` field (push results).
    """

    status: str = ""
    id: str = ""
    detail: bool = False
    current: int = 0
    total: int = 0
    aux: str = ""


@dataclass(frozen=True)
class Platform:
    """An OCI platform as ``GET /distribution/{name}/json`` lists it."""

    architecture: str
    os: str
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    variant: str = ""


@dataclass(frozen=True)
class DistributionInfo:
    """``GET /distribution/{name}/json``: the manifest's descriptor and its platforms."""

    media_type: str
    digest: str
    size: int
    platforms: tuple[Platform, ...]


@dataclass(frozen=True)
class LoginResult:
    status: str
    identity_token: str = ""


@dataclass(frozen=True)
class SearchResult:
    """One repository of ``docker search``, in moby's registry.SearchResult terms."""

    name: str
    description: str = ""
    star_count: int = 0
    is_official: bool = False
    is_automated: bool = False

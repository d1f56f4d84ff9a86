"""Registry authentication: the challenge of ``GET /v2/``, then Basic or Bearer.

dockerd pings ``/v2/`` once per endpoint and remembers the challenge of its
``WWW-Authenticate`` header:

- ``Basic realm=…``: every request carries the user's credentials; without
  any, a request fails before it is sent ("no basic auth credentials");
- ``Bearer realm=…,service=…``: a token is fetched from the realm for the
  scopes a request needs (``repository:library/busybox:pull``), with the
  user's credentials, identity (refresh) token, or anonymously, and cached.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from services.common.errors import Unauthorized
from services.imaged.registry.errors import RegistryUnreachable, response_error
from services.imaged.registry.models import RegistryAuth

CLIENT_ID = "docker"
# A token without expires_in lasts 60 s by the token spec; renew a little early.
DEFAULT_TOKEN_SECONDS = 60
TOKEN_MARGIN_SECONDS = 5

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


class NoCredentials(Unauthorized):
    """A Basic challenge and nothing to answer it with: the request is never sent."""


@dataclass(frozen=True)
class Challenge:
    scheme: str
    """Lower case: ``basic`` or ``bearer``."""
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(headers: Sequence[str]) -> list[Challenge]:
    """The challenges of ``WWW-Authenticate`` header values."""
    out: list[Challenge] = []
    for header in headers:
        text = header.strip()
        while text:
            scheme, _, rest = text.partition(" ")
            params: dict[str, str] = {}
            rest = rest.strip()
            while rest:
                match = _PARAM.match(rest)
                if match is None:
                    break
                value = match.group(2) if match.group(2) is not None else match.group(3)
                params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
                rest = rest[match.end() :]
            out.append(Challenge(scheme.lower(), params))
            text = rest.strip()
    return out


def go_op(method: str) -> str:
    """The operation as Go's url.Error names it: ``Head``, ``Get``, ``Put`` …"""
    return method.capitalize()


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass
class _Token:
    value: str
    expires: float


class Authenticator:
    """The credentials of one operation against one endpoint, and the tokens they earn."""

    def __init__(self, http: aiohttp.ClientSession, credentials: RegistryAuth,
                 ssl: bool) -> None:
        self._http = http
        self._credentials = credentials
        self._ssl = ssl
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self.refresh_token = ""
        """The refresh token a login received (``IdentityToken`` of ``POST /auth``)."""

    def learn(self, www_authenticate: Sequence[str]) -> None:
        """Remember the challenge of a ping's 401 (Bearer preferred over Basic)."""
        challenges = parse_challenges(www_authenticate)
        for scheme in ("bearer", "basic"):
            for challenge in challenges:
                if challenge.scheme == scheme:
                    self._challenge = challenge
                    return

    @property
    def challenged(self) -> bool:
        return self._challenge is not None

    async def headers(self, method: str, url: str, scopes: Sequence[str],
                      *, offline: bool = False) -> dict[str, str]:
        """The Authorization header a request to ``url`` needs (none when unchallenged)."""
        challenge = self._challenge
        creds = self._credentials
        if challenge is None:
            return {}
        if challenge.scheme == "basic":
            if not (creds.username or creds.password):
                raise NoCredentials(f'{go_op(method)} "{url}": no basic auth credentials')
            return {"Authorization": basic_header(creds.username, creds.password)}
        if creds.registry_token:
            return {"Authorization": f"Bearer {creds.registry_token}"}
        key = tuple(sorted(scopes))
        token = self._tokens.get(key)
        if token is None or token.expires <= time.monotonic():
            token = await self._fetch_token(challenge, key, offline=offline)
            self._tokens[key] = token
        return {"Authorization": f"Bearer {token.value}"}

    async def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...],
                           *, offline: bool) -> _Token:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise Unauthorized(f"invalid bearer challenge: realm {realm!r} is not a URL")
        creds = self._credentials
        service = challenge.params.get("service", "")
        try:
            if creds.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                        "client_id": CLIENT_ID, "scope": " ".join(scopes)}
                if service:
                    form["service"] = service
                async with self._http.post(realm, data=form, ssl=self._ssl) as response:
                    body = await response.read()
                    status = response.status
            else:
                query: list[tuple[str, str]] = []
                if service:
                    query.append(("service", service))
                query += [("scope", scope) for scope in scopes]
                headers = {}
                if creds.username:
                    query.append(("account", creds.username))
                    headers["Authorization"] = basic_header(creds.username, creds.password)
                if offline:
                    query += [("offline_token", "true"), ("client_id", CLIENT_ID)]
                async with self._http.get(realm, params=query, headers=headers,
                                          ssl=self._ssl) as response:
                    body = await response.read()
                    status = response.status
        except aiohttp.ClientError as exc:
            raise RegistryUnreachable(f'Get "{realm}": {exc}') from None
        if status != 200:
            error = response_error(status, body)
            raise Unauthorized(f"failed to authorize: {error.message}") if status in (
                401, 403) else error
        return self._token_from(body)

    def _token_from(self, body: bytes) -> _Token:
        import json

        try:
            data: dict[str, Any] = json.loads(body)
        except ValueError:
            raise Unauthorized("failed to authorize: the token server sent no JSON") from None
        value = data.get("token") or data.get("access_token")
        if not isinstance(value, str) or not value:
            raise Unauthorized("failed to authorize: the token server sent no token")
        refresh = data.get("refresh_token")
        if isinstance(refresh, str):
            self.refresh_token = refresh
        seconds = data.get("expires_in")
        lifetime = seconds if isinstance(seconds, int) and seconds > 0 else DEFAULT_TOKEN_SECONDS
        return _Token(value, time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, 1))

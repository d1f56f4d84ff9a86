"""``POST /auth`` (``docker login``): check credentials against a registry's ``/v2/``.

As dockerd's loginV2: ping ``/v2/`` for the challenge, then ``GET /v2/`` with
the credentials (a token fetched for no scope, asking for a refresh token, on
Bearer registries). 200 is "Login Succeeded" with the refresh token, if any,
as IdentityToken; anything else is 401 "login attempt to <url> failed with
status: 401 Unauthorized".
"""

from __future__ import annotations

from urllib.parse import urlsplit

from services.common.errors import Unauthorized
from services.imaged.reference import DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN
from services.imaged.registry.api import connect, describe_failure, open_http
from services.imaged.registry.endpoints import host_endpoints
from services.imaged.registry.errors import RegistryUnreachable, status_text
from services.imaged.registry.models import LoginResult, RegistryAuth
from services.imaged.registry.settings import RegistrySettings

DEFAULT_SERVER = "https://index.docker.io/v1/"


def login_host(server_address: str) -> str:
    """dockerd's ConvertToHostname, with Docker Hub's names folded into docker.io."""
    address = server_address.strip() or DEFAULT_SERVER
    host = urlsplit(address).netloc if "://" in address else address.split("/", 1)[0]
    if host in (LEGACY_DEFAULT_DOMAIN, "registry-1.docker.io", DEFAULT_DOMAIN):
        return DEFAULT_DOMAIN
    return host


async def check_auth(settings: RegistrySettings, auth: RegistryAuth) -> LoginResult:
    host = login_host(auth.server_address)
    last_error: Exception | None = None
    async with open_http() as http:
        for endpoint in await host_endpoints(host, settings):
            try:
                connection = await connect(http, endpoint, auth)
            except RegistryUnreachable as exc:
                last_error = exc
                continue
            url = f"{endpoint.url}/v2/"
            headers = await connection.auth.headers("GET", url, (), offline=True)
            try:
                async with http.get(url, headers=headers, ssl=connection.ssl) as response:
                    status = response.status
            except Exception as exc:
                last_error = RegistryUnreachable(describe_failure("GET", url, exc))
                continue
            if status == 200:
                return LoginResult("Login Succeeded", connection.auth.refresh_token)
            raise Unauthorized(f"login attempt to {url} failed with status: {status_text(status)}")
    assert last_error is not None
    raise last_error

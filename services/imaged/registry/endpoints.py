"""Which base URLs serve a registry host, in the order dockerd tries them.

- docker.io: each ``registry-mirrors`` entry first, then ``https://registry-1.docker.io``;
- any other host: ``https://host``; for an insecure host TLS is not verified
  and ``http://host`` is tried next (dockerd's fallback).

A host is insecure when it is listed in ``insecure-registries``, or when one
of its addresses lies in an insecure CIDR (127.0.0.0/8 and ::1 always are).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.imaged.reference import DEFAULT_DOMAIN
from services.imaged.registry.settings import RegistrySettings

DOCKER_HUB_REGISTRY = "https://registry-1.docker.io"


@dataclass(frozen=True)
class Endpoint:
    url: str
    """``scheme://host[:port]``, no trailing slash."""
    mirror: bool = False
    verify_tls: bool = True

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


def split_host(host: str) -> str:
    """The name or address part of ``host[:port]`` (``[v6]:port`` too)."""
    if host.startswith("["):
        return host[1 : host.index("]")] if "]" in host else host
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() else host


async def _addresses(name: str) -> list[str]:
    with contextlib.suppress(ValueError):
        return [str(ipaddress.ip_address(name))]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return [str(info[4][0]) for info in infos]


async def is_insecure(host: str, settings: RegistrySettings) -> bool:
    """dockerd's isSecureIndex, inverted."""
    if host.lower() in settings.insecure_hosts:
        return True
    for address in await _addresses(split_host(host)):
        ip = ipaddress.ip_address(address.split("%")[0])
        if any(ip in network for network in settings.insecure_networks):
            return True
    return False


async def host_endpoints(host: str, settings: RegistrySettings) -> list[Endpoint]:
    """The endpoints of one registry host (no mirrors): what push and login use."""
    if host == DEFAULT_DOMAIN:
        return [Endpoint(DOCKER_HUB_REGISTRY)]
    if await is_insecure(host, settings):
        return [Endpoint(f"https://{host}", verify_tls=False), Endpoint(f"http://{host}")]
    return [Endpoint(f"https://{host}")]


async def pull_endpoints(host: str, settings: RegistrySettings) -> list[Endpoint]:
    """The endpoints a pull tries: mirrors first for docker.io names."""
    endpoints: list[Endpoint] = []
    if host == DEFAULT_DOMAIN:
        for mirror in settings.mirrors:
            mirror_host = urlsplit(mirror).netloc
            insecure = mirror.startswith("https://") and await is_insecure(mirror_host, settings)
            verify = not insecure
            endpoints.append(Endpoint(mirror, mirror=True, verify_tls=verify))
    return endpoints + await host_endpoints(host, settings)

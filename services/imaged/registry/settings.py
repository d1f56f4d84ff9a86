"""The daemon.json keys that steer registry traffic, validated once at start-up.

``insecure-registries`` entries are ``host[:port]`` names or CIDRs;
127.0.0.0/8 and ::1 are always insecure, as in dockerd. ``registry-mirrors``
are ``http(s)://host[:port]`` URLs used for docker.io names only.
``max-concurrent-downloads`` (3), ``max-concurrent-uploads`` (5) and
``max-download-attempts`` (5) have dockerd's defaults.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from services.common.config import DaemonConfig
from services.common.errors import InvalidArgument

DEFAULT_MAX_DOWNLOADS = 3
DEFAULT_MAX_UPLOADS = 5
DEFAULT_DOWNLOAD_ATTEMPTS = 5
ALWAYS_INSECURE = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RegistrySettings:
    insecure_hosts: frozenset[str] = frozenset()
    insecure_networks: tuple[Network, ...] = ALWAYS_INSECURE
    mirrors: tuple[str, ...] = ()
    max_concurrent_downloads: int = DEFAULT_MAX_DOWNLOADS
    max_concurrent_uploads: int = DEFAULT_MAX_UPLOADS
    max_download_attempts: int = DEFAULT_DOWNLOAD_ATTEMPTS
    retry_delay: float = 1.0
    """Seconds before the second attempt of a failed transfer; doubled each time."""
    user_agent: str = field(default="dockyard")


def _positive(extra: dict[str, Any], key: str, default: int) -> int:
    value = extra.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgument(f"invalid value for {key}: expected a positive integer")
    return value


def normalize_mirror(url: str) -> str:
    """dockerd's ValidateMirror: ``scheme://host[:port]``, a trailing ``/`` dropped."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f"invalid mirror: unsupported scheme {parts.scheme!r} in {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidArgument(
            f"invalid mirror: {url!r} must not have credentials, query or fragment"
        )
    if parts.path.strip("/"):
        raise InvalidArgument(f"invalid mirror: path {parts.path!r} is not allowed in {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def settings_from(config: DaemonConfig) -> RegistrySettings:
    hosts: set[str] = set()
    networks: list[Network] = list(ALWAYS_INSECURE)
    for entry in config.insecure_registries:
        text = entry.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
        if "/" in text:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise InvalidArgument(f"invalid insecure registry {entry!r}") from None
        elif text:
            hosts.add(text.lower())
    extra = dict(config.extra)
    return RegistrySettings(
        insecure_hosts=frozenset(hosts),
        insecure_networks=tuple(networks),
        mirrors=tuple(normalize_mirror(m) for m in config.registry_mirrors),
        max_concurrent_downloads=_positive(extra, "max-concurrent-downloads",
                                           DEFAULT_MAX_DOWNLOADS),
        max_concurrent_uploads=_positive(extra, "max-concurrent-uploads", DEFAULT_MAX_UPLOADS),
        max_download_attempts=_positive(extra, "max-download-attempts",
                                        DEFAULT_DOWNLOAD_ATTEMPTS),
    )

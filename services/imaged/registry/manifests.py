"""Image manifests and indexes (Docker schema 2 and OCI), and platform selection.

A pull fetches a manifest; an index (Docker manifest list or OCI image index)
names one manifest per platform, and the one for the requested platform (the
host's by default) is chosen as containerd's platform matcher does: OS and
architecture must match; a requested variant must match too (``arm64`` and
``arm64/v8`` are the same); otherwise an exact variant wins over the first
listed entry.
"""

from __future__ import annotations

import json
import platform as host
import re
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument
from services.imaged.registry.models import Platform

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
SCHEMA1_TYPES = ("application/vnd.docker.distribution.manifest.v1+json",
                 "application/vnd.docker.distribution.manifest.v1+prettyjws")

ACCEPTED_MANIFEST_TYPES = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)
CONFIG_TYPES = (DOCKER_CONFIG, OCI_CONFIG)
GZIP_LAYER_TYPES = (DOCKER_LAYER, OCI_LAYER_GZIP)
LAYER_TYPES = (DOCKER_LAYER, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD,
               "application/vnd.oci.image.layer.nondistributable.v1.tar",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")

_SHA256 = re.compile(r"^sha256:[a-f0-9]{64}$")
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386",
                 "i686": "386", "armhf": "arm", "armel": "arm", "armv7l": "arm"}
_DEFAULT_VARIANT = {"armhf": "v7", "armel": "v6", "armv7l": "v7"}


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class ImageIndex:
    media_type: str
    manifests: tuple[Descriptor, ...]


def _descriptor(data: Any, what: str) -> Descriptor:
    if not isinstance(data, dict):
        raise InvalidArgument(f"invalid manifest: {what} is not an object")
    digest, size, media_type = data.get("digest"), data.get("size"), data.get("mediaType", "")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise InvalidArgument(f"invalid manifest: {what} has an unsupported digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidArgument(f"invalid manifest: {what} has an invalid size")
    found = data.get("platform")
    platform = None
    if isinstance(found, dict):
        platform = Platform(
            architecture=str(found.get("architecture", "")), os=str(found.get("os", "")),
            os_version=str(found.get("os.version", "")),
            os_features=tuple(str(f) for f in found.get("os.features") or ()),
            variant=str(found.get("variant", "")),
        )
    urls = data.get("urls") or ()
    return Descriptor(str(media_type), digest, size, platform,
                      tuple(str(u) for u in urls) if isinstance(urls, list) else ())


def parse_manifest(body: bytes, content_type: str) -> ImageManifest | ImageIndex:
    """A manifest or index; anything else is refused with dockerd's words."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidArgument("invalid manifest: not JSON") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid manifest: not a JSON object")
    media_type = str(data.get("mediaType") or content_type or "")
    if data.get("schemaVersion") == 1 or media_type in SCHEMA1_TYPES:
        raise InvalidArgument(
            "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support "
            "has been removed. Suggest the author of the image to upgrade to Docker Image "
            "manifest version 2, schema 2."
        )
    if "manifests" in data:
        entries = data["manifests"]
        if not isinstance(entries, list):
            raise InvalidArgument("invalid manifest: manifests is not a list")
        return ImageIndex(media_type or OCI_INDEX,
                          tuple(_descriptor(e, "manifest entry") for e in entries))
    if "config" in data and isinstance(data.get("layers"), list):
        config = _descriptor(data["config"], "config")
        if config.media_type not in CONFIG_TYPES:
            raise InvalidArgument(
                f'Encountered remote "{config.media_type}"(unknown) when fetching'
            )
        layers = tuple(_descriptor(e, "layer") for e in data["layers"])
        for layer in layers:
            if layer.media_type == DOCKER_FOREIGN_LAYER or layer.urls:
                raise InvalidArgument(f"foreign layers are not supported ({layer.digest})")
            if layer.media_type not in LAYER_TYPES:
                raise InvalidArgument(f"unsupported media type {layer.media_type}")
        return ImageManifest(media_type or OCI_MANIFEST, config, layers)
    raise InvalidArgument("unsupported manifest format")


# ---- platforms -------------------------------------------------------------------------


def _normalize(os_name: str, arch: str, variant: str) -> Platform:
    arch = arch.lower()
    variant = variant.lower() or _DEFAULT_VARIANT.get(arch, "")
    arch = _ARCH_ALIASES.get(arch, arch)
    if arch == "arm64" and variant == "v8":
        variant = ""
    if arch == "amd64" and variant == "v1":
        variant = ""
    return Platform(architecture=arch, os=os_name.lower(), variant=variant)


def host_platform() -> Platform:
    return _normalize("linux", host.machine(), "")


def parse_platform(text: str) -> Platform | None:
    """``os[/arch[/variant]]``; None (the host's) when empty."""
    if not text.strip():
        return None
    parts = text.strip().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: '
                              "invalid argument")
    os_name = parts[0].lower()
    if os_name != "linux":
        raise InvalidArgument(f'"{text}": operating system is not supported')
    arch = parts[1] if len(parts) > 1 else host_platform().architecture
    return _normalize(os_name, arch, parts[2] if len(parts) > 2 else "")


def format_platform(wanted: Platform) -> str:
    return "/".join(p for p in (wanted.os, wanted.architecture, wanted.variant) if p)


def platform_matches(candidate: Platform, wanted: Platform) -> bool:
    have = _normalize(candidate.os, candidate.architecture, candidate.variant)
    if (have.os, have.architecture) != (wanted.os, wanted.architecture):
        return False
    return not wanted.variant or have.variant == wanted.variant


def select_manifest(index: ImageIndex, wanted: Platform) -> Descriptor:
    """The entry of ``index`` for ``wanted``, or dockerd's error when there is none."""
    matches = [d for d in index.manifests
               if d.platform is not None and platform_matches(d.platform, wanted)
               and d.media_type in (DOCKER_MANIFEST, OCI_MANIFEST, "")]
    if not matches:
        raise InvalidArgument(
            f"no matching manifest for {format_platform(wanted)} in the manifest list entries"
        )
    exact = [d for d in matches if d.platform is not None and
             _normalize(d.platform.os, d.platform.architecture, d.platform.variant) == wanted]
    return (exact or matches)[0]


def config_platform(config: dict[str, Any]) -> Platform:
    return Platform(
        architecture=str(config.get("architecture", "")), os=str(config.get("os", "")),
        os_version=str(config.get("os.version", "")),
        os_features=tuple(str(f) for f in config.get("os.features") or ()),
        variant=str(config.get("variant", "")),
    )

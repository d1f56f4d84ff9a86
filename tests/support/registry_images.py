"""Test images put into a registry by speaking the Registry API directly.

Pull tests must not depend on Dockyard's own push, so this module uploads
blobs (POST then PUT) and manifests itself, with ``requests``. Everything is
deterministic (fixed times, gzip without a timestamp): the same inputs give
the same digests on every run.

Images it builds: busybox (from :mod:`tests.support.busybox`), a five-layer
image with whiteouts and an opaque directory, one-layer images per platform
gathered under an index, and a ``hello-world`` that prints a greeting.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.registry import Registry

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200
HELLO = "Hello from Dockyard's hello-world!"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


Entry = tuple[str, bytes | None, int]
"""(path, content or None for a directory, mode); a name ``.wh.X`` is a whiteout."""


def tar_of(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, MTIME
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass(frozen=True)
class PushedImage:
    repository: str
    tag: str
    manifest_digest: str
    image_id: str
    """The config's digest: the ID the image must get when pulled."""
    manifest: bytes
    layer_digests: tuple[str, ...]
    diff_ids: tuple[str, ...]
    architecture: str = "amd64"


class RegistryWriter:
    """Uploads to one registry (with its Basic credentials when it has them)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.session = requests.Session()
        if registry.username:
            self.session.auth = (registry.username, registry.password)

    def _url(self, repository: str, suffix: str) -> str:
        return f"{self.registry.url}/v2/{repository}/{suffix}"

    def put_blob(self, repository: str, data: bytes) -> str:
        digest = sha256(data)
        if self.session.head(self._url(repository, f"blobs/{digest}")).status_code == 200:
            return digest
        started = self.session.post(self._url(repository, "blobs/uploads/"))
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        if location.startswith("/"):
            location = self.registry.url + location
        done = self.session.put(location, params={"digest": digest}, data=data,
                                headers={"Content-Type": "application/octet-stream"})
        assert done.status_code == 201, done.text
        return digest

    def put_manifest(self, repository: str, reference: str, media_type: str,
                     body: bytes) -> str:
        answer = self.session.put(self._url(repository, f"manifests/{reference}"), data=body,
                                  headers={"Content-Type": media_type})
        assert answer.status_code == 201, answer.text
        return sha256(body)

    def push_image(
        self, repository: str, tag: str, layers: list[bytes], *,
        cmd: list[str] | None = None, architecture: str = "amd64", variant: str = "",
        oci: bool = False, labels: dict[str, str] | None = None,
    ) -> PushedImage:
        """Push an image of uncompressed layer tars (gzipped here) under ``repository:tag``."""
        diff_ids = [sha256(layer) for layer in layers]
        compressed = [gz(layer) for layer in layers]
        config: dict[str, Any] = {
            "architecture": architecture,
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": cmd or ["sh"], "Labels": labels or None},
            "created": CREATED,
            "history": [{"created": CREATED, "created_by": f"layer {n}"}
                        for n in range(len(layers))],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        if variant:
            config["variant"] = variant
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        config_digest = self.put_blob(repository, config_bytes)
        layer_digests = [self.put_blob(repository, blob) for blob in compressed]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                       "size": len(config_bytes), "digest": config_digest},
            "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER, "size": len(blob),
                        "digest": digest} for blob, digest in zip(compressed, layer_digests,
                                                                  strict=True)],
        }
        body = json.dumps(manifest, indent=3).encode()
        media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        digest = self.put_manifest(repository, tag, media_type, body)
        return PushedImage(repository, tag, digest, config_digest, body, tuple(layer_digests),
                           tuple(diff_ids), architecture)

    def push_index(self, repository: str, tag: str, images: list[PushedImage],
                   *, oci: bool = False) -> str:
        """An index (manifest list) of already pushed images, tagged ``tag``."""
        entries = [{
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "size": len(image.manifest), "digest": image.manifest_digest,
            "platform": {"architecture": image.architecture, "os": "linux",
                         **({"variant": "v8"} if image.architecture == "arm64" else {})},
        } for image in images]
        media_type = OCI_INDEX if oci else DOCKER_LIST
        body = json.dumps({"schemaVersion": 2, "mediaType": media_type,
                           "manifests": entries}, indent=3).encode()
        return self.put_manifest(repository, tag, media_type, body)


# ---- the test images ---------------------------------------------------------------------


def busybox_layer(cache_dir: Path) -> bytes:
    return cached_busybox_rootfs_tar(cache_dir).read_bytes()


def push_busybox(writer: RegistryWriter, cache_dir: Path, repository: str = "busybox",
                 tag: str = "latest") -> PushedImage:
    return writer.push_image(repository, tag, [busybox_layer(cache_dir)], cmd=["sh"])


def push_hello_world(writer: RegistryWriter, cache_dir: Path,
                     repository: str = "library/hello-world") -> PushedImage:
    """busybox plus a layer holding the greeting; CMD prints it."""
    greeting = tar_of([("hello.txt", (HELLO + "\n").encode(), 0o644)])
    return writer.push_image(repository, "latest", [busybox_layer(cache_dir), greeting],
                             cmd=["cat", "/hello.txt"])


FIVE_LAYERS: list[list[Entry]] = [
    [("etc/", None, 0o755), ("etc/keep", b"keep\n", 0o644), ("etc/gone", b"gone\n", 0o644),
     ("data/", None, 0o755), ("data/old1", b"1\n", 0o644), ("data/old2", b"2\n", 0o644)],
    [("bin/", None, 0o755), ("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
     ("etc/added", b"added\n", 0o644)],
    [("etc/.wh.gone", b"", 0o644), ("etc/keep", b"kept and changed\n", 0o644)],
    [("data/", None, 0o755), ("data/.wh..wh..opq", b"", 0o644), ("data/new", b"new\n", 0o644)],
    [("srv/", None, 0o755), ("srv/big", bytes(range(256)) * 4096, 0o600)],
]


def push_five_layers(writer: RegistryWriter, repository: str, tag: str = "latest",
                     *, oci: bool = False) -> PushedImage:
    return writer.push_image(repository, tag, [tar_of(entries) for entries in FIVE_LAYERS],
                             cmd=["/bin/tool"], oci=oci)


def push_two_platforms(writer: RegistryWriter, repository: str,
                       tag: str = "latest") -> tuple[str, PushedImage, PushedImage]:
    """An index with an amd64 and an arm64 image, each with ``/arch`` naming its platform."""
    amd64 = writer.push_image(repository, "amd64-only",
                              [tar_of([("arch", b"amd64\n", 0o644)])], architecture="amd64")
    arm64 = writer.push_image(repository, "arm64-only",
                              [tar_of([("arch", b"arm64\n", 0o644)])], architecture="arm64",
                              variant="v8")
    return writer.push_index(repository, tag, [amd64, arm64]), amd64, arm64

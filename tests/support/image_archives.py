"""Builders of layer tars and of ``docker save`` / OCI layout archives, for load tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer with regular files (directories implied)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def image_config(diff_ids: list[str], *, created: str = "2024-01-02T03:04:05Z",
                 labels: dict[str, str] | None = None, os_name: str = "linux") -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": os_name, "created": created,
        "config": {"Cmd": ["/bin/sh"], "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": f"step {i}"}
                    for i in range(len(diff_ids))],
    }, separators=(",", ":")).encode()


def tar_of(
    entries: list[tuple[str, bytes]], *, extra: list[tarfile.TarInfo] | None = None
) -> bytes:
    """An outer archive of regular files, plus any hand-made entries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in extra or []:
            tar.addfile(info)
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def docker_archive(images: list[tuple[list[bytes], list[str]]]) -> bytes:
    """Docker's current format: each image is (layer tars, RepoTags)."""
    entries: dict[str, bytes] = {}
    manifest: list[dict[str, Any]] = []
    for layers, tags in images:
        diff_ids = [sha256(layer) for layer in layers]
        config = image_config(diff_ids)
        entries[f"blobs/sha256/{sha256(config)[7:]}"] = config
        for layer, diff in zip(layers, diff_ids, strict=True):
            entries[f"blobs/sha256/{diff[7:]}"] = layer
        manifest.append({"Config": f"blobs/sha256/{sha256(config)[7:]}", "RepoTags": tags,
                         "Layers": [f"blobs/sha256/{d[7:]}" for d in diff_ids]})
    entries["manifest.json"] = json.dumps(manifest).encode()
    return tar_of(list(entries.items()))


def oci_archive(layers: list[bytes], annotations: dict[str, str]) -> bytes:
    """A plain OCI image layout (no manifest.json), layers gzip-compressed."""
    diff_ids = [sha256(layer) for layer in layers]
    config = image_config(diff_ids)
    blobs: dict[str, bytes] = {sha256(config): config}
    descriptors = []
    for layer in layers:
        compressed = gzip.compress(layer, mtime=0)
        blobs[sha256(compressed)] = compressed
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": sha256(compressed), "size": len(compressed)})
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": descriptors,
    }).encode()
    blobs[sha256(manifest)] = manifest
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(manifest),
        "size": len(manifest), "annotations": annotations}]}).encode()
    entries = [(f"blobs/sha256/{d[7:]}", data) for d, data in blobs.items()]
    entries += [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
    return tar_of(entries)

"""Pure parts of the registry client: challenges, errors, manifests, platforms, references."""

from __future__ import annotations

import json

import pytest

from services.common.config import DaemonConfig
from services.common.errors import InvalidArgument, Unauthorized
from services.imaged.registry.auth import parse_challenges
from services.imaged.registry.errors import RegistryNotFound, not_found_for_pull, response_error
from services.imaged.registry.login import login_host
from services.imaged.registry.manifests import (
    DOCKER_MANIFEST_LIST,
    ImageIndex,
    ImageManifest,
    parse_manifest,
    parse_platform,
    select_manifest,
)
from services.imaged.registry.models import Platform
from services.imaged.registry.pull import pull_reference
from services.imaged.registry.push import PushedBlob, manifest_bytes
from services.imaged.registry.settings import normalize_mirror, settings_from

DIGEST = "sha256:" + "a" * 64


def test_challenges() -> None:
    [bearer] = parse_challenges(['Bearer realm="https://auth.example/token",'
                                 'service="registry.example",scope="repository:a/b:pull"'])
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example/token",
                             "service": "registry.example", "scope": "repository:a/b:pull"}
    [basic] = parse_challenges(['Basic realm="x y"'])
    assert (basic.scheme, basic.params) == ("basic", {"realm": "x y"})


def test_registry_errors_are_worded_as_dockers_client() -> None:
    body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown",
                                   "detail": {"Tag": "x"}}]}).encode()
    error = response_error(404, body)
    assert isinstance(error, RegistryNotFound)
    assert error.message == "manifest unknown: manifest unknown"
    assert not_found_for_pull(error, "r:5000/a:x", "r:5000/a").message == (
        "manifest for r:5000/a:x not found: manifest unknown: manifest unknown")
    assert isinstance(response_error(401, b""), Unauthorized)
    assert response_error(401, b"").message == "unauthorized: authentication required"
    assert response_error(502, b"").message == "received unexpected HTTP status: 502 Bad Gateway"


def _manifest(arch: str, variant: str = "") -> dict[str, object]:
    platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
    return {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1,
            "digest": "sha256:" + (arch[0] * 64 if arch[0] in "abcdef" else "f" * 64),
            "platform": platform}


def test_index_platform_selection() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [
        _manifest("amd64"), _manifest("arm64", "v8"), _manifest("arm", "v7")]}).encode()
    index = parse_manifest(body, "")
    assert isinstance(index, ImageIndex)
    arm64 = parse_platform("linux/arm64")
    assert arm64 is not None
    assert select_manifest(index, arm64).digest == "sha256:" + "a" * 64
    assert select_manifest(index, Platform("amd64", "linux")).platform == Platform(
        "amd64", "linux")
    with pytest.raises(InvalidArgument, match="no matching manifest for linux/s390x in the "
                                              "manifest list entries"):
        select_manifest(index, parse_platform("linux/s390x") or Platform("", ""))
    with pytest.raises(InvalidArgument):
        parse_platform("windows/amd64")
    assert parse_platform("") is None
    assert parse_platform("linux/aarch64") == Platform("arm64", "linux")


def test_manifests_are_checked() -> None:
    good = {"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                           "size": 2, "digest": DIGEST},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 3,
                        "digest": DIGEST}]}
    parsed = parse_manifest(json.dumps(good).encode(), "application/vnd.oci.image.manifest.v1+json")
    assert isinstance(parsed, ImageManifest) and parsed.layers[0].size == 3
    bad_digest = {**good, "layers": [{"mediaType": "x", "size": 1, "digest": "md5:00"}]}
    with pytest.raises(InvalidArgument, match="unsupported digest"):
        parse_manifest(json.dumps(bad_digest).encode(), "")
    with pytest.raises(InvalidArgument, match="schema 1 support has been removed"):
        parse_manifest(b'{"schemaVersion": 1}', "")
    helm = {**good, "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json",
                               "size": 1, "digest": DIGEST}}
    with pytest.raises(InvalidArgument, match="Encountered remote"):
        parse_manifest(json.dumps(helm).encode(), "")


def test_pull_references_as_dockerd() -> None:
    assert str(pull_reference("busybox", "latest")) == "docker.io/library/busybox:latest"
    assert str(pull_reference("r:5000/a", DIGEST)) == f"r:5000/a@{DIGEST}"
    assert str(pull_reference("r:5000/a", "")) == "r:5000/a"
    with pytest.raises(InvalidArgument):
        pull_reference("UPPER", "latest")
    with pytest.raises(InvalidArgument):
        pull_reference("a", "sha256:123")


def test_pushed_manifest_is_indented_like_go() -> None:
    config = PushedBlob(DIGEST, 2, "application/vnd.docker.container.image.v1+json")
    layer = PushedBlob(DIGEST, 3, "application/vnd.docker.image.rootfs.diff.tar.gzip")
    body = manifest_bytes(config, [layer])
    assert body.startswith(b'{\n   "schemaVersion": 2,\n   "mediaType": ')
    assert list(json.loads(body)) == ["schemaVersion", "mediaType", "config", "layers"]


def test_settings_and_hosts() -> None:
    assert normalize_mirror("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"
    with pytest.raises(InvalidArgument):
        normalize_mirror("ftp://x")
    settings = settings_from(DaemonConfig(insecure_registries=("myreg:5000", "10.0.0.0/8"),
                                          extra={"max-concurrent-downloads": 7}))
    assert settings.max_concurrent_downloads == 7
    assert "myreg:5000" in settings.insecure_hosts
    with pytest.raises(InvalidArgument):
        settings_from(DaemonConfig(extra={"max-concurrent-downloads": 0}))
    assert login_host("") == "docker.io"
    assert login_host("https://index.docker.io/v1/") == "docker.io"
    assert login_host("127.0.0.1:5000") == "127.0.0.1:5000"
    assert login_host("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"

"""Docker's reference grammar: normalisation, tags, digests, and dockerd's error words."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.imaged.reference import parse_lookup, parse_normalized, repo_tag, short_id

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox", "busybox"),
        ("docker.io/busybox", "docker.io/library/busybox", "busybox"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox", "busybox"),
        ("me/app", "docker.io/me/app", "me/app"),
        ("me/app/sub:tag", "docker.io/me/app/sub:tag", "me/app/sub:tag"),
        ("localhost/app", "localhost/app", "localhost/app"),
        ("localhost:5000/a/b:1", "localhost:5000/a/b:1", "localhost:5000/a/b:1"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app", "127.0.0.1:5000/app"),
        ("[::1]:5000/app", "[::1]:5000/app", "[::1]:5000/app"),
        ("Registry.Example.com/app", "Registry.Example.com/app", "Registry.Example.com/app"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}", f"busybox:1@{DIGEST}"),
        ("a_b.c-d__e---f", "docker.io/library/a_b.c-d__e---f", "a_b.c-d__e---f"),
    ],
)
def test_normalised(text: str, full: str, familiar: str) -> None:
    ref = parse_normalized(text)
    assert str(ref) == full
    assert ref.familiar == familiar


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("UPPER", "invalid reference format: repository name (library/UPPER) must be lowercase"),
        ("me/App", "invalid reference format: repository name (me/App) must be lowercase"),
        ("", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        ("bad name", "invalid reference format"),
        ("-leading", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("busybox:" + "t" * 129, "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("busybox@sha256:" + "A" * 64, "invalid checksum digest format"),
        ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("x/" + "a" * 255, "repository name must not be more than 255 characters"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as failure:
        parse_normalized(text)
    assert message in failure.value.message


def test_default_tag_and_repo_tag() -> None:
    assert str(parse_normalized("busybox").with_default_tag()) == "docker.io/library/busybox:latest"
    assert str(parse_normalized(f"b@{DIGEST}").with_default_tag()).endswith(f"b@{DIGEST}")
    assert repo_tag("busybox", "").familiar == "busybox:latest"
    assert repo_tag("busybox:1", "").familiar == "busybox:1"
    assert repo_tag("busybox:1", "2").familiar == "busybox:2"
    with pytest.raises(InvalidArgument, match="invalid tag format"):
        repo_tag("busybox", "bad tag")
    with pytest.raises(InvalidArgument, match="cannot import digest reference"):
        repo_tag(f"busybox@{DIGEST}", "")


def test_lookups() -> None:
    full = parse_lookup("a" * 64)
    assert full.full_id == "sha256:" + "a" * 64 and full.reference is None
    assert parse_lookup(DIGEST).full_id == DIGEST
    short = parse_lookup("abc123")
    assert short.id_prefix == "abc123" and short.reference is not None
    named = parse_lookup("busybox")
    assert named.id_prefix == "" and named.reference is not None
    assert short_id(DIGEST) == "a" * 12

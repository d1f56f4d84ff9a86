"""Image references with Docker's grammar (distribution/reference), as a pure parser.

``busybox`` is ``docker.io/library/busybox``; ``localhost:5000/a/b:1`` keeps its
domain; a digest follows ``@``. Error messages are dockerd's words, because
clients and users match on them (``invalid reference format``, ``repository
name (library/UPPER) must be lowercase``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_AND_PORT = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_TAG_ONLY = re.compile(rf"^{_TAG}$")
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
_SHORT_IDENTIFIER = re.compile(r"^[a-f0-9]{1,64}$")
_DIGEST_ONLY = re.compile(rf"^{_DIGEST}$")


@dataclass(frozen=True)
class Reference:
    """A normalised named reference: ``docker.io/library/busybox`` plus tag and/or digest."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The full repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The name as users write it: ``busybox``, ``me/app``, ``localhost:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_REPO_PREFIX) and path.count("/") == 1:
                return path[len(OFFICIAL_REPO_PREFIX) :]
            return path
        return self.name

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (
            f"@{self.digest}" if self.digest else ""
        )

    @property
    def familiar(self) -> str:
        """``busybox:latest``, ``busybox@sha256:…`` — reference.FamiliarString."""
        return self.familiar_name + (f":{self.tag}" if self.tag else "") + (
            f"@{self.digest}" if self.digest else ""
        )

    def with_default_tag(self) -> Reference:
        """reference.TagNameOnly: ``latest`` when neither a tag nor a digest is given."""
        if self.tag or self.digest:
            return self
        return Reference(self.domain, self.path, DEFAULT_TAG)

    def with_tag(self, tag: str) -> Reference:
        if not _TAG_ONLY.match(tag):
            raise InvalidArgument("invalid tag format")
        return Reference(self.domain, self.path, tag)


def check_digest(digest: str) -> str:
    """A ``sha256:<64 hex>`` digest, or dockerd's error for it."""
    algorithm, sep, hex_part = digest.partition(":")
    if not sep or not algorithm:
        raise InvalidArgument("invalid checksum digest format")
    if algorithm != "sha256":
        if algorithm in ("sha384", "sha512"):
            expected = {"sha384": 96, "sha512": 128}[algorithm]
            if len(hex_part) != expected:
                raise InvalidArgument("invalid checksum digest length")
            return digest
        raise InvalidArgument("unsupported digest algorithm")
    if len(hex_part) != 64:
        raise InvalidArgument("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]{64}", hex_part):
        raise InvalidArgument("invalid checksum digest format")
    return digest


def _split_domain(name: str) -> tuple[str, str]:
    """distribution's splitDockerDomain: the first part is a domain only if it looks like one."""
    first, sep, rest = name.partition("/")
    if not sep or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _parse(text: str) -> tuple[str, str, str]:
    """reference.Parse: ``(name, tag, digest)`` of a full reference string."""
    match = _REFERENCE.match(text)
    if match is None:
        if not text:
            raise InvalidArgument("repository name must have at least one component")
        if _REFERENCE.match(text.lower()):
            raise InvalidArgument("repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if digest:
        check_digest(digest)
    return name, tag, digest


def parse_normalized(text: str) -> Reference:
    """reference.ParseNormalizedNamed: a user's reference, with docker.io/library filled in."""
    if _IDENTIFIER.match(text):
        raise InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidArgument(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    name, tag, digest = _parse(f"{domain}/{remainder}")
    first, _, path = name.partition("/")
    return Reference(first, path, tag, digest)


@dataclass(frozen=True)
class ImageLookup:
    """How a user named an image: by reference, by full digest ID, or by short ID prefix.

    ``reference`` is None for a ``sha256:…`` or 64-hex ID. ``id_prefix`` is set
    when the text may also be an ID prefix (dockerd searches IDs after names).
    """

    text: str
    reference: Reference | None
    full_id: str = ""
    id_prefix: str = ""


def parse_lookup(text: str) -> ImageLookup:
    """reference.ParseAnyReference plus dockerd's ID search, for inspect/rmi/tag sources."""
    if _IDENTIFIER.match(text):
        return ImageLookup(text, None, full_id="sha256:" + text)
    if _DIGEST_ONLY.match(text):
        return ImageLookup(text, None, full_id=check_digest(text))
    reference = parse_normalized(text)
    prefix = ""
    bare = text.removeprefix("sha256:")
    if _SHORT_IDENTIFIER.match(bare):
        prefix = bare
    return ImageLookup(text, reference, id_prefix=prefix)


def repo_tag(repo: str, tag: str) -> Reference:
    """httputils.RepoTagReference: ``repo`` (may carry a tag) plus an optional ``tag``."""
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    reference = parse_normalized(repo)
    if reference.digest:
        raise InvalidArgument("cannot import digest reference")
    if tag:
        return reference.with_tag(tag)
    return reference.with_default_tag()


def short_id(image_id: str) -> str:
    """stringid.TruncateID: the first 12 hex digits, without the algorithm."""
    return image_id.partition(":")[2][:12] if ":" in image_id else image_id[:12]

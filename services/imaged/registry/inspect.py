"""``GET /distribution/{name}/json``: a remote image's descriptor and platforms.

As dockerd's distribution route: the manifest the name resolves to (``latest``
when no tag), described by media type, digest and size; an index lists the
platforms of its entries, a single manifest the platform of its config.
"""

from __future__ import annotations

import json

from services.common.errors import NotFound
from services.imaged.reference import parse_normalized
from services.imaged.registry.api import Repository, connect, open_http
from services.imaged.registry.endpoints import pull_endpoints
from services.imaged.registry.errors import RegistryNotFound, RegistryUnreachable
from services.imaged.registry.manifests import ImageIndex, config_platform, parse_manifest
from services.imaged.registry.models import DistributionInfo, Platform, RegistryAuth
from services.imaged.registry.settings import RegistrySettings


async def distribution_info(settings: RegistrySettings, name: str,
                            auth: RegistryAuth) -> DistributionInfo:
    reference = parse_normalized(name).with_default_tag()
    last_error: Exception | None = None
    async with open_http() as http:
        for endpoint in await pull_endpoints(reference.domain, settings):
            try:
                connection = await connect(http, endpoint, auth)
                repository = Repository(connection, reference.path)
                fetched = await repository.get_manifest(reference.digest or reference.tag)
                parsed = parse_manifest(fetched.body, fetched.media_type)
                platforms: list[Platform] = []
                if isinstance(parsed, ImageIndex):
                    platforms = [d.platform for d in parsed.manifests if d.platform is not None]
                else:
                    config = json.loads(await repository.blob_bytes(parsed.config.digest))
                    found = config_platform(config if isinstance(config, dict) else {})
                    if found.os or found.architecture:
                        platforms = [found]
                return DistributionInfo(parsed.media_type, fetched.digest, len(fetched.body),
                                        tuple(platforms))
            except RegistryUnreachable as exc:
                last_error = exc
            except RegistryNotFound as exc:
                if not endpoint.mirror:
                    raise NotFound(exc.message) from None
                last_error = exc
    assert last_error is not None
    raise last_error

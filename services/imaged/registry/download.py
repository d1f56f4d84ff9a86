"""One blob from a registry into a local file, verified while it streams.

The file grows across attempts: after a dropped connection the next request
asks for the rest with ``Range: bytes=N-`` and the hash carries on; a registry
that answers 200 instead of 206 restarts the file. A blob that hashes to
another digest, or runs past its descriptor's size, is refused and not retried.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import BinaryIO

import aiohttp

from services.common.errors import InvalidArgument, Unavailable
from services.imaged.registry.api import Repository
from services.imaged.registry.errors import RegistryUnreachable
from services.imaged.registry.manifests import Descriptor
from services.imaged.registry.progress import Progress
from services.imaged.registry.settings import RegistrySettings

# Failures worth another attempt: the connection, not the content.
RETRYABLE = (RegistryUnreachable, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError,
             ConnectionError, TimeoutError)


class _Truncated(ConnectionError):
    pass


def _create(path: Path) -> BinaryIO:
    # Written from the event loop on purpose: appending to the page cache costs
    # less than handing every chunk to a thread.
    return open(path, "wb")


async def download_blob(
    repository: Repository, blob: Descriptor, dest: Path, progress: Progress,
    settings: RegistrySettings, progress_id: str,
) -> None:
    hasher = hashlib.sha256()
    written = 0
    attempt = 0
    with _create(dest) as out:
        while True:
            try:
                async with repository.open_blob(blob.digest, written) as response:
                    if written and response.status != 206:
                        out.seek(0)
                        out.truncate()
                        hasher, written = hashlib.sha256(), 0
                    async for chunk in response.content.iter_any():
                        written += len(chunk)
                        if written > blob.size:
                            raise InvalidArgument(
                                f"filesystem layer verification failed for digest "
                                f"{blob.digest}: more than {blob.size} bytes"
                            )
                        out.write(chunk)
                        hasher.update(chunk)
                        progress.bytes(progress_id, "Downloading", written, blob.size)
                if written < blob.size:
                    raise _Truncated(f"unexpected EOF after {written} of {blob.size} bytes")
                break
            except RETRYABLE as exc:
                attempt += 1
                if attempt >= settings.max_download_attempts:
                    raise Unavailable(
                        f"download failed after attempts={attempt}: {exc}"
                    ) from None
                delay = settings.retry_delay * (2 ** (attempt - 1))
                progress.update(progress_id, f"Retrying in {delay:g} second"
                                + ("" if delay == 1 else "s"))
                await asyncio.sleep(delay)
        progress.bytes(progress_id, "Downloading", written, blob.size, final=True)
        progress.update(progress_id, "Verifying Checksum")
        if "sha256:" + hasher.hexdigest() != blob.digest:
            raise InvalidArgument(f"filesystem layer verification failed for digest {blob.digest}")
        out.flush()
    progress.update(progress_id, "Download complete")

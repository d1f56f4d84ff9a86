"""Latency and throughput of cheap Engine API calls over the API socket."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from bench.stats import LatencySummary, summarize


@dataclass(frozen=True)
class Endpoint:
    """Where an Engine API listens: a unix socket path or a TCP base URL."""

    unix_socket: str | None
    base_url: str

    @classmethod
    def parse(cls, host: str) -> Endpoint:
        """``unix:///path``, a bare socket path, ``tcp://h:p`` or ``http://h:p``."""
        if host.startswith("unix://"):
            return cls(unix_socket=host[len("unix://") :], base_url="http://localhost")
        if host.startswith("/"):
            return cls(unix_socket=host, base_url="http://localhost")
        if host.startswith("tcp://"):
            return cls(unix_socket=None, base_url="http://" + host[len("tcp://") :])
        if host.startswith(("http://", "https://")):
            return cls(unix_socket=None, base_url=host.rstrip("/"))
        raise ValueError(f"unsupported host {host!r}: expected unix:///path or tcp://host:port")

    def session(self, limit: int) -> aiohttp.ClientSession:
        connector: aiohttp.BaseConnector
        if self.unix_socket is not None:
            connector = aiohttp.UnixConnector(path=self.unix_socket, limit=limit)
        else:
            connector = aiohttp.TCPConnector(limit=limit)
        return aiohttp.ClientSession(base_url=self.base_url, connector=connector)


async def _timed_get(session: aiohttp.ClientSession, path: str) -> float:
    start = time.perf_counter()
    async with session.get(path) as response:
        await response.read()
        # A failing endpoint would otherwise look fast.
        response.raise_for_status()
    return time.perf_counter() - start


async def measure(
    endpoint: Endpoint, path: str, requests: int = 500, concurrency: int = 8, warmup: int = 20
) -> LatencySummary:
    """``requests`` GETs of ``path`` by ``concurrency`` workers over kept-alive connections."""
    async with endpoint.session(limit=concurrency) as session:
        for _ in range(warmup):
            await _timed_get(session, path)
        samples: list[float] = []
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                samples.append(await _timed_get(session, path))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return summarize(samples, wall)


async def wait_for_ping(endpoint: Endpoint, timeout_s: float, interval_s: float = 0.01) -> float:
    """Poll ``GET /_ping`` until it answers 200; return when it did (perf_counter time)."""
    deadline = time.perf_counter() + timeout_s
    while True:
        try:
            async with endpoint.session(limit=1) as session, session.get(
                "/_ping", timeout=aiohttp.ClientTimeout(total=1)
            ) as response:
                if response.status == 200:
                    return time.perf_counter()
        except (TimeoutError, aiohttp.ClientError, OSError):
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no answer to GET /_ping on {endpoint} within {timeout_s}s")
        await asyncio.sleep(interval_s)

"""``python -m bench.events --host unix:///…``: how soon a subscriber sees an action's event.

A client follows ``GET /events`` (volumes only) while another creates and
removes volumes; each sample is the time from the create's response to the
``create`` event arriving at the follower (target ≤ 50 ms). With
``--dockerd-socket`` the same loop runs against a real dockerd for comparison.
This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from bench.api_latency import Endpoint
from bench.stats import LatencySummary, summarize

TARGET_MS = 50.0


async def measure_event_latency(host: str, rounds: int) -> LatencySummary:
    endpoint = Endpoint.parse(host)
    prefix = f"bench-events-{os.getpid()}-"
    samples: list[float] = []
    arrivals: dict[str, float] = {}
    arrived = asyncio.Event()
    filters = json.dumps({"type": ["volume"], "event": ["create"]})
    async with endpoint.session(4) as session, session.get(
        "/v1.47/events", params={"filters": filters}, timeout=None
    ) as stream:
        stream.raise_for_status()

        async def follow() -> None:
            async for line in stream.content:
                if line.strip():
                    name = json.loads(line)["Actor"]["ID"]
                    arrivals[name] = time.perf_counter()
                    arrived.set()

        follower = asyncio.ensure_future(follow())
        started = time.perf_counter()
        try:
            for n in range(rounds):
                name = f"{prefix}{n}"
                async with session.post("/v1.47/volumes/create", json={"Name": name}) as r:
                    r.raise_for_status()
                    returned = time.perf_counter()
                while name not in arrivals:
                    arrived.clear()
                    await asyncio.wait_for(arrived.wait(), 5)
                # An event that beats the response counts as no wait at all.
                samples.append(max(arrivals[name] - returned, 0.0))
                async with session.delete(f"/v1.47/volumes/{name}") as r:
                    r.raise_for_status()
        finally:
            follower.cancel()
        return summarize(samples, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", required=True, help="the Dockyard API (unix:///path)")
    parser.add_argument("--dockerd-socket", metavar="PATH", help="a real dockerd to compare")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    targets = [("dockyard", args.host)]
    if args.dockerd_socket:
        targets.append(("dockerd", f"unix://{args.dockerd_socket}"))
    for label, host in targets:
        summary = asyncio.run(measure_event_latency(host, args.rounds))
        verdict = "meets" if summary.median_s * 1000 <= TARGET_MS else "misses"
        print(f"{label}: action returned → event received over {summary.count} events: "
              f"median {summary.median_s * 1000:.2f} ms, p95 {summary.p95_s * 1000:.2f} ms "
              f"({verdict} the {TARGET_MS:.0f} ms target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A log that outgrew ``max-size`` while execd was down is rotated as soon as execd is back.

conmon writes the log whether execd runs or not, and only execd rotates it
(``max-file`` over 1). Here execd is frozen (SIGSTOP) while the container
writes four times ``max-size``, then killed with SIGKILL; the execd the
launcher starts again rotates (and compresses) the log at once, keeping
``max-file`` files, and ``docker logs`` reads the newest lines in order.
"""

from __future__ import annotations

import gzip
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeCluster
from tests.support.cli_containers import ensure_busybox, inspect, ok, poll
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

# 100 lines of 40 bytes, written at once when the host creates /go in its rootfs.
BURST_ON_GO = ("while [ ! -e /go ]; do sleep 0.05; done; i=0; "
               "while [ $i -lt 100 ]; do echo line-$i-abcdefghijklmnopqrstuvwxyz; i=$((i+1)); "
               "done; while :; do sleep 1; done")
BACK_TIMEOUT = 60.0


@pytest.fixture
def cluster(
    make_cluster: MakeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    private = make_cluster()
    ensure_busybox(private, tmp_path_factory)
    yield private


def test_log_grown_while_execd_was_down_is_rotated_at_once(cluster: Cluster) -> None:
    ok(cluster.docker("run", "-d", "--name", "burst", "--log-opt", "max-size=1k",
                      "--log-opt", "max-file=3", "--log-opt", "compress=true",
                      "busybox", "sh", "-c", BURST_ON_GO))
    details = inspect(cluster, "burst")
    log = Path(details["LogPath"])
    merged = Path(details["GraphDriver"]["Data"]["MergedDir"])
    execd = cluster.pid_of("execd")
    assert execd is not None
    os.kill(execd, signal.SIGSTOP)
    try:
        (merged / "go").touch()
        poll(lambda: log.stat().st_size >= 4000, what="conmon to write the burst")
        assert not log.with_name(log.name + ".1.gz").exists()  # nobody rotated it
    finally:
        os.kill(execd, signal.SIGKILL)  # a stopped process dies of it too
    poll(lambda: cluster.pid_of("execd") not in (None, execd), timeout=BACK_TIMEOUT,
         what="the launcher to start execd again")
    poll(lambda: log.stat().st_size < 1024 and not log.with_name(log.name + ".1").exists()
         and log.with_name(log.name + ".2.gz").exists(), timeout=BACK_TIMEOUT,
         what="the new execd to rotate and compress the log")
    files = sorted(p.name for p in log.parent.iterdir() if p.name.startswith(log.name))
    assert files == [log.name, f"{log.name}.1.gz", f"{log.name}.2.gz"], files
    for index in (1, 2):
        content = gzip.decompress(log.with_name(f"{log.name}.{index}.gz").read_bytes())
        assert 0 < len(content) <= 1024
    seen = [int(line.split("-")[1]) for line in ok(cluster.docker("logs", "burst")).split()]
    # The newest lines that fit in max-file files, in order; the oldest rotated away.
    assert seen and seen[-1] == 99 and seen == list(range(seen[0], 100)) and seen[0] > 0, seen

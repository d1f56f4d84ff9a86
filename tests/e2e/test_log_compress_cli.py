"""json-file ``compress`` as dockerd does it, through the stock CLI.

With ``--log-opt compress=true`` (and ``max-file`` over 1, ``max-size`` set)
dockerd gzips each rotated file into ``<id>-json.log.1.gz``, ``.2.gz`` …, the
time of the file's last entry in the gzip header (``{"lastTime": …}``), and
``docker logs`` reads them as if they were plain. A bad ``compress`` is refused
with dockerd's words when the container starts (its logger is made then).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import struct
import subprocess
from pathlib import Path

import docker.errors
import pytest

from services.execd.logfile import parse_time
from tests.conftest import MakeCluster
from tests.support.cli_containers import (
    Names,
    ensure_busybox,
    inspect,
    ok,
    poll,
    state,
)
from tests.support.cluster import DOCKER_CLI, Cluster

pytestmark = pytest.mark.root

# Lines of 40 bytes, paced so that several rotations happen while they come.
PACED = "i=0; while [ $i -lt {count} ]; do echo line-$i-abcdefghijklmnopqrstuvwxyz; " \
        "i=$((i+1)); sleep 0.01; done"
# A line of the container's log on disk: time, stream, full/partial, the output.
DISK_LINE = re.compile(rb"^(\S+) (stdout|stderr) [FP] (line-\d+-[a-z]+)$")
COMPRESS_ERROR = ("failed to initialize logging driver: compress cannot be true when "
                  "max-file is less than 2 or max-size is not set")


def log_path(cluster: Cluster, name: str) -> Path:
    container_id = str(inspect(cluster, name)["Id"])
    return cluster.data_root / "containers" / container_id / f"{container_id}-json.log"


def log_files(cluster: Cluster, name: str) -> set[str]:
    path = log_path(cluster, name)
    return {p.name for p in path.parent.iterdir() if p.name.startswith(path.name)}


def numbers(output: str) -> list[int]:
    return [int(line.split("-")[1]) for line in output.splitlines()]


def compressed_once_done(cluster: Cluster, name: str, rotated: int) -> set[str]:
    """The log's files once the container has exited and no rotated file is left plain."""
    poll(lambda: state(cluster, name)["Status"] == "exited", timeout=90,
         what="the writer to finish")
    live = log_path(cluster, name).name
    poll(lambda: not any(re.fullmatch(re.escape(live) + r"\.\d+", f)
                         for f in log_files(cluster, name)),
         what="every rotated file to be compressed")
    files = log_files(cluster, name)
    packed = {f"{live}.{n}.gz" for n in range(1, rotated + 1)}
    assert packed <= files <= {live, *packed}, files
    return files


def gzip_last_time(packed: bytes) -> str:
    """The lastTime dockerd keeps in the gzip header's FEXTRA field."""
    assert packed[:3] == b"\x1f\x8b\x08" and packed[3] & 0x04, packed[:12]
    (length,) = struct.unpack_from("<H", packed, 10)
    return str(json.loads(packed[12:12 + length])["lastTime"])


def lines_on_disk(path: Path) -> list[re.Match[bytes]]:
    """The log lines of one file of the log (unpacked when compressed), each checked."""
    data = path.read_bytes()
    content = gzip.decompress(data) if path.name.endswith(".gz") else data
    matches = [DISK_LINE.match(line) for line in content.splitlines()]
    assert all(matches), content[:200]
    return [m for m in matches if m is not None]


def test_rotated_files_are_gzipped_and_logs_reads_them(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("gz")
    ok(cluster.docker("run", "-d", "--name", name, "--log-opt", "max-size=1k",
                      "--log-opt", "max-file=3", "--log-opt", "compress=true",
                      busybox, "sh", "-c", PACED.format(count=300)))
    compressed_once_done(cluster, name, rotated=2)
    path = log_path(cluster, name)
    on_disk: list[int] = []
    for file in (path.with_name(path.name + ".2.gz"), path.with_name(path.name + ".1.gz")):
        lines = lines_on_disk(file)
        assert lines, file
        assert len(gzip.decompress(file.read_bytes())) <= 1024
        # dockerd's header: the time of the file's last entry.
        assert parse_time(gzip_last_time(file.read_bytes())) == parse_time(
            lines[-1].group(1).decode())
        on_disk += [int(m.group(3).split(b"-")[1]) for m in lines]
    on_disk += [int(m.group(3).split(b"-")[1]) for m in lines_on_disk(path)]
    seen = numbers(ok(cluster.docker("logs", name)))
    # Every line still kept, oldest first and without a gap; the first ones rotated away.
    assert seen == on_disk, (seen, on_disk)
    assert seen[-1] == 299 and seen == list(range(seen[0], 300)) and seen[0] > 0, seen
    assert numbers(ok(cluster.docker("logs", "--tail", "5", name))) == [295, 296, 297, 298, 299]
    # --since/--until by the times `docker logs -t` shows, across the compressed files.
    stamped = ok(cluster.docker("logs", "-t", name)).splitlines()
    first_kept = len(stamped) // 4  # in the oldest, compressed file
    since = stamped[first_kept].split(" ", 1)[0]
    after = numbers(ok(cluster.docker("logs", "--since", since, name)))
    assert after == seen[first_kept:], after
    before = numbers(ok(cluster.docker("logs", "--until", since, name)))
    assert before == seen[:first_kept + 1], before


def test_logs_follow_across_compressed_rotations(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("gzf")
    ok(cluster.docker("create", "--name", name, "--log-opt", "max-size=1k",
                      "--log-opt", "max-file=2", "--log-opt", "compress=true", busybox,
                      "sh", "-c", "sleep 1; " + PACED.format(count=200)))
    ok(cluster.docker("start", name))
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    env.pop("DOCKER_CONTEXT", None)
    follower = subprocess.run([DOCKER_CLI, "logs", "-f", name], capture_output=True,
                              text=True, env=env, timeout=120, check=False)
    assert follower.returncode == 0, follower.stderr
    assert numbers(follower.stdout) == list(range(200))
    compressed_once_done(cluster, name, rotated=1)
    seen = numbers(ok(cluster.docker("logs", name)))
    assert seen[-1] == 199 and seen == list(range(seen[0], 200)), seen


@pytest.mark.parametrize("options, message", [
    (("max-size=1k", "max-file=3", "compress=maybe"),
     'failed to initialize logging driver: strconv.ParseBool: parsing "maybe": invalid syntax'),
    (("max-size=1k", "compress=true"), COMPRESS_ERROR),
    (("max-file=3", "compress=true"), COMPRESS_ERROR),
])
def test_bad_compress_is_refused_as_dockerd_does(
    cluster: Cluster, busybox: str, names: Names, options: tuple[str, ...], message: str
) -> None:
    name = names.new("gzbad")
    flags = [arg for option in options for arg in ("--log-opt", option)]
    result = cluster.docker("run", "--name", name, *flags, busybox, "true")
    assert result.returncode == 125, (result.stdout, result.stderr)
    assert f"Error response from daemon: {message}" in result.stderr
    assert state(cluster, name)["Status"] == "created"  # dockerd makes the logger at start
    client = cluster.client()
    try:
        with pytest.raises(docker.errors.APIError) as refused:
            client.api.start(name)
        assert refused.value.response is not None
        assert refused.value.response.status_code == 400
        assert message in str(refused.value.explanation)
    finally:
        client.close()


def test_daemon_log_opts_compress(make_cluster: MakeCluster,
                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    opts = {"max-size": "1k", "max-file": "3", "compress": "true"}
    private = make_cluster(daemon_json={"log-opts": opts})
    image = ensure_busybox(private, tmp_path_factory)
    ok(private.docker("run", "-d", "--name", "daemon-gz", image, "sh", "-c",
                      PACED.format(count=200)))
    compressed_once_done(private, "daemon-gz", rotated=2)
    log_config = inspect(private, "daemon-gz")["HostConfig"]["LogConfig"]
    assert log_config == {"Type": "json-file", "Config": opts}
    seen = numbers(ok(private.docker("logs", "daemon-gz")))
    assert seen[-1] == 199 and seen == list(range(seen[0], 200)) and seen[0] > 0, seen

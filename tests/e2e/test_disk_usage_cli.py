"""``docker system df`` and the prune commands through the stock CLI.

The prune tests run on a private cluster: pruning the shared one would remove
what other test modules keep between their tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cli_containers import Names, ok
from tests.support.cluster import Cluster
from tests.unit.spec_schema import validate_response

pytestmark = pytest.mark.root


def _df(cluster: Cluster, *args: str) -> dict[str, Any]:
    result = cluster.docker("system", "df", "--format", "{{json .}}", *args)
    assert result.returncode == 0, result.stderr
    return {row["Type"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_df_counts_images_containers_and_volumes(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    volume, writer, sleeper = names.volume(), names.new(), names.new()
    ok(cluster.docker("run", "--name", writer, "-v", f"{volume}:/data", busybox, "sh", "-c",
                      "dd if=/dev/zero of=/data/blob bs=1000 count=300 2>/dev/null;"
                      "dd if=/dev/zero of=/big bs=1000 count=200 2>/dev/null"))
    ok(cluster.docker("run", "-d", "--name", sleeper, busybox, "sleep", "60"))

    rows = _df(cluster)
    assert list(rows) == ["Images", "Containers", "Local Volumes", "Build Cache"]
    assert int(rows["Containers"]["TotalCount"]) >= 2
    assert int(rows["Containers"]["Active"]) >= 1
    assert rows["Build Cache"]["Size"] == "0B"

    verbose = cluster.docker("system", "df", "-v")
    assert verbose.returncode == 0, verbose.stderr
    lines = verbose.stdout.splitlines()
    volume_line = next(line.split() for line in lines if line.startswith(volume))
    assert volume_line[1:] == ["1", "300kB"]  # LINKS, SIZE
    writer_line = next(line.split() for line in lines if line.endswith(writer))
    assert "200kB" in writer_line  # the writable layer
    assert any(line.startswith("busybox ") for line in lines)


def test_df_api_shapes_and_type_filter(cluster: Cluster, busybox: str, names: Names) -> None:
    volume, user = names.volume(), names.new()
    ok(cluster.docker("run", "--name", user, "-v", f"{volume}:/data", busybox, "true"))
    client = cluster.client()
    try:
        usage = client.df()
        only_volumes = client.api.get(
            client.api._url("/system/df"), params={"type": "volume"}).json()
        bogus = client.api.get(client.api._url("/system/df"), params={"type": "nope"})
    finally:
        client.close()
    assert validate_response(usage, "/system/df") == []
    assert validate_response(only_volumes, "/system/df") == []
    image = next(i for i in usage["Images"] if "busybox:latest" in i["RepoTags"])
    assert image["Containers"] >= 1
    assert image["SharedSize"] >= 0
    assert usage["LayersSize"] >= image["Size"] > 0
    container = next(c for c in usage["Containers"] if c["Names"] == [f"/{user}"])
    assert container["SizeRw"] == 0 and container["SizeRootFs"] == image["Size"]
    assert usage["BuildCache"] == []
    mine = next(v for v in only_volumes["Volumes"] if v["Name"] == volume)
    assert mine["UsageData"] == {"Size": 0, "RefCount": 1}
    assert only_volumes["Images"] is None and only_volumes["Containers"] is None
    assert bogus.status_code == 400
    assert bogus.json() == {"message": "unknown object type: nope"}


def _private(make_cluster: Any, tmp_path: Path) -> Cluster:
    cluster: Cluster = make_cluster()
    tar = cached_busybox_rootfs_tar(tmp_path)
    ok(cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest"))
    return cluster


def _names(cluster: Cluster, *args: str) -> set[str]:
    result = cluster.docker("ps", "-a", "--format", "{{.Names}}", *args)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_container_prune_keeps_running_and_filtered(make_cluster: Any, tmp_path: Path) -> None:
    cluster = _private(make_cluster, tmp_path)
    ok(cluster.docker("run", "--name", "exited", "busybox", "sh", "-c",
                      "dd if=/dev/zero of=/big bs=1000 count=100 2>/dev/null"))
    ok(cluster.docker("create", "--name", "labelled", "--label", "keep=yes", "busybox"))
    ok(cluster.docker("run", "-d", "--name", "running", "busybox", "sleep", "60"))

    pruned = cluster.docker("container", "prune", "-f", "--filter", "label!=keep")
    assert pruned.returncode == 0, pruned.stderr
    exited_id = None
    lines = pruned.stdout.splitlines()
    assert lines[0] == "Deleted Containers:"
    exited_id = lines[1]
    assert len(exited_id) == 64
    assert lines[-1] == "Total reclaimed space: 100kB"
    assert _names(cluster) == {"labelled", "running"}

    recent = cluster.docker("container", "prune", "-f", "--filter", "until=1h")
    assert recent.returncode == 0, recent.stderr
    assert recent.stdout.strip() == "Total reclaimed space: 0B"
    assert _names(cluster) == {"labelled", "running"}

    bad = cluster.docker("container", "prune", "-f", "--filter", "colour=red")
    assert bad.returncode == 1
    assert "invalid filter 'colour'" in bad.stderr

    ok(cluster.docker("container", "prune", "-f"))
    assert _names(cluster) == {"running"}


def test_system_prune_all_with_volumes(make_cluster: Any, tmp_path: Path) -> None:
    cluster = _private(make_cluster, tmp_path)
    ok(cluster.docker("network", "create", "spare"))
    ok(cluster.docker("volume", "create", "named"))
    ok(cluster.docker("run", "--name", "done", "-v", "/anon", "busybox", "true"))
    anonymous = json.loads(cluster.docker("inspect", "done").stdout)[0]["Mounts"][0]["Name"]

    pruned = cluster.docker("system", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    assert "Deleted Containers:" in pruned.stdout and "Deleted Networks:\nspare" in pruned.stdout
    assert pruned.stdout.rstrip().endswith("Total reclaimed space: 0B")
    assert _names(cluster) == set()
    ok(cluster.docker("image", "inspect", "busybox:latest"))  # tagged: kept without -a

    everything = cluster.docker("system", "prune", "-a", "--volumes", "-f")
    assert everything.returncode == 0, everything.stderr
    assert "untagged: busybox:latest" in everything.stdout
    assert f"Deleted Volumes:\n{anonymous}" in everything.stdout
    images = cluster.docker("images", "-q")
    assert images.returncode == 0 and images.stdout == ""
    volumes = cluster.docker("volume", "ls", "-q").stdout.split()
    assert volumes == ["named"]  # API ≥ 1.42: only anonymous volumes are pruned

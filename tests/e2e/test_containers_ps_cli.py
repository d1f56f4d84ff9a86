"""``docker ps`` over containers in every state: filters, sizes, formats, limits."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.cli_containers import Names, ok
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


def test_filters_over_created_running_and_exited(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    tag = uuid.uuid4().hex[:8]
    label = ("--label", f"set={tag}")
    volume = names.volume("psvol")
    exited3 = names.new("x3")
    ok(cluster.docker("create", "--name", exited3, *label, busybox, "sh", "-c", "exit 3"))
    cluster.docker("start", "-a", exited3)
    exited0 = names.new("x0")
    ok(cluster.docker("run", "--name", exited0, *label, "--network", "none", busybox, "true"))
    up = names.new("up")
    ok(cluster.docker("run", "-d", "--name", up, *label, "-v", f"{volume}:/v", busybox,
                      "sleep", "30"))
    created = names.new("cr")
    ok(cluster.docker("create", "--name", created, *label, busybox))

    def shown(*filters: str, all_: bool = True) -> list[str]:
        args = ["ps", "--filter", f"label=set={tag}", "--format", "{{.Names}}"]
        if all_:
            args.append("-a")
        for f in filters:
            args += ["--filter", f]
        return ok(cluster.docker(*args)).split()

    newest_first = [created, up, exited0, exited3]
    assert shown() == newest_first
    assert shown(all_=False) == [up]
    assert shown("status=exited") == [exited0, exited3]
    assert shown("status=running") == [up]
    assert shown("status=created") == [created]
    assert shown("status=exited", "status=created") == [created, exited0, exited3]
    assert shown("exited=3") == [exited3]
    assert shown("exited=0") == [exited0]
    assert shown(f"volume={volume}") == [up]
    assert shown("volume=/v") == [up]
    assert shown("network=none") == [exited0]
    assert shown("network=bridge") == [created, up, exited3]
    assert shown(f"before={up}") == [exited0, exited3]
    assert shown(f"since={exited0}") == [created, up]
    assert shown(f"name={up}") == [up]
    assert shown("ancestor=busybox", "status=running") == [up]
    up_id = ok(cluster.docker("inspect", "-f", "{{.Id}}", up)).strip()
    assert shown(f"id={up_id[:10]}") == [up]
    bad = cluster.docker("ps", "--filter", "status=sleeping")
    assert bad.returncode == 1 and "invalid filter 'status=sleeping'" in bad.stderr
    bad_code = cluster.docker("ps", "-a", "--filter", "exited=abc")
    assert bad_code.returncode == 1 and 'strconv.Atoi: parsing "abc"' in bad_code.stderr


def test_quiet_last_size_and_json_format(cluster: Cluster, busybox: str, names: Names) -> None:
    first = names.new("first")
    ok(cluster.docker("run", "-d", "--name", first, busybox, "sh", "-c",
                      "head -c 300000 /dev/zero > /blob; sleep 30"))
    second = names.new("second")
    second_id = ok(cluster.docker("run", "-d", "--name", second, busybox, "sleep", "30")).strip()
    assert ok(cluster.docker("ps", "-q", "-n", "1")).split() == [second_id[:12]]
    assert ok(cluster.docker("ps", "-q", "--no-trunc", "-l")).split() == [second_id]
    rows = [json.loads(line) for line in ok(cluster.docker(
        "ps", "-s", "--filter", f"name={first}", "--format", "{{json .}}")).splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["Names"] == first and row["Image"] == "busybox" and row["State"] == "running"
    assert row["Status"].startswith("Up ") and row["Command"].startswith('"sh -c')
    # The writable layer holds the 300 kB file; the virtual size adds the image.
    assert row["Size"].startswith("30") and "kB (virtual " in row["Size"]
    table = ok(cluster.docker("ps", "--filter", f"name={second}",
                              "--format", "table {{.ID}}\t{{.Names}}")).splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAMES"]
    assert table[1].split() == [second_id[:12], second]

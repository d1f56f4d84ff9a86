"""Events of docker cp, export, commit, restart policies, ``exec -d`` and the prunes,
with dockerd's actions and attributes, seen through ``docker events``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cli_containers import Names, ok, poll
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


def events_between(cluster: Cluster, since: float, *args: str) -> list[dict[str, Any]]:
    """What ``docker events`` replays from ``since`` until a moment from now."""
    until = time.time() + 0.3  # the last emits may still be on their way to etcd
    out = ok(cluster.docker("events", "--since", f"{since:.9f}", "--until", f"{until:.9f}",
                            "--format", "{{json .}}", *args))
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_cp_export_and_commit_are_container_events(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    name = names.new("ev-files")
    repo = f"dockyard-ev-{name}"
    container_id = ok(cluster.docker("run", "-d", "--name", name, busybox,
                                     "sleep", "60")).strip()
    since = time.time()
    source = tmp_path / "in.txt"
    source.write_text("in\n")
    try:
        ok(cluster.docker("cp", str(source), f"{name}:/tmp/"))
        ok(cluster.docker("cp", f"{name}:/tmp/in.txt", str(tmp_path / "out.txt")))
        ok(cluster.docker("export", "-o", str(tmp_path / "fs.tar"), name))
        image_id = ok(cluster.docker("commit", "-m", "a comment", name, f"{repo}:v2")).strip()
        seen = events_between(cluster, since, "--filter", f"container={name}")
        image_events = events_between(cluster, since, "--filter", f"image={repo}")
    finally:
        cluster.docker("rmi", "-f", f"{repo}:v2")
    actions = [e["Action"] for e in seen]
    assert actions == ["extract-to-dir", "archive-path", "export", "pause", "unpause",
                       "commit"], actions
    for event in seen:
        assert event["Actor"]["ID"] == container_id
        assert event["Actor"]["Attributes"]["name"] == name
    commit = seen[-1]["Actor"]["Attributes"]
    assert (commit["comment"], commit["imageID"], commit["imageRef"]) == (
        "a comment", image_id, f"{repo}:v2")
    assert [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"])
            for e in image_events] == [("tag", image_id, f"{repo}:v2")]


def test_a_restart_policy_reports_die_then_start_for_each_restart(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("ev-policy")
    since = time.time()
    ok(cluster.docker("run", "-d", "--name", name, "--restart", "on-failure:2", busybox,
                      "sh", "-c", "exit 3"))

    def finished() -> list[dict[str, Any]] | None:
        seen = events_between(cluster, since, "--filter", f"container={name}",
                              "--filter", "event=start", "--filter", "event=die")
        return seen if [e["Action"] for e in seen].count("die") >= 3 else None

    seen = poll(finished, timeout=30, interval=0.3, what="three exits")
    assert [e["Action"] for e in seen] == ["start", "die", "start", "die", "start", "die"]
    assert {e["Actor"]["Attributes"]["exitCode"] for e in seen if e["Action"] == "die"} == {"3"}
    state = ok(cluster.docker("inspect", "--format", "{{.State.Status}} {{.RestartCount}}",
                              name)).split()
    assert state == ["exited", "2"]


def test_a_detached_exec_reports_exec_die_with_its_exit_code(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("ev-execd")
    ok(cluster.docker("run", "-d", "--name", name, busybox, "sleep", "60"))
    since = time.time()
    ok(cluster.docker("exec", "-d", name, "sh", "-c", "sleep 1; exit 7"))

    def died() -> list[dict[str, Any]] | None:
        return events_between(cluster, since, "--filter", f"container={name}",
                              "--filter", "event=exec_die") or None

    seen = poll(died, timeout=20, interval=0.3, what="the exec_die event")
    assert len(seen) == 1 and seen[0]["Actor"]["Attributes"]["exitCode"] == "7"
    started = events_between(cluster, since, "--filter", f"container={name}")
    exec_id = seen[0]["Actor"]["Attributes"]["execID"]
    assert [e["Action"] for e in started if e["Actor"]["Attributes"].get("execID") == exec_id
            ] == ["exec_create: sh -c sleep 1; exit 7", "exec_start: sh -c sleep 1; exit 7",
                  "exec_die"]


def test_container_and_network_prunes_report_each_removal_then_prune(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    mark = names.new("ev-prune")
    first, second = names.new("ev-p1"), names.new("ev-p2")
    ids = {ok(cluster.docker("create", "--name", n, "-l", f"mark={mark}", busybox,
                             "true")).strip() for n in (first, second)}
    network_id = ok(cluster.docker("network", "create", "--label", f"mark={mark}",
                                   mark)).strip()
    since = time.time()
    ok(cluster.docker("container", "prune", "-f", "--filter", f"label=mark={mark}"))
    ok(cluster.docker("network", "prune", "-f", "--filter", f"label=mark={mark}"))
    containers = events_between(cluster, since, "--filter", "type=container")
    networks = events_between(cluster, since, "--filter", "type=network")
    destroyed = {e["Actor"]["ID"] for e in containers if e["Action"] == "destroy"}
    assert destroyed == ids
    assert containers[-1]["Action"] == "prune" and containers[-1]["Actor"]["ID"] == ""
    assert int(containers[-1]["Actor"]["Attributes"]["reclaimed"]) >= 0
    assert [(e["Action"], e["Actor"]["ID"]) for e in networks] == [
        ("destroy", network_id), ("prune", "")]
    assert networks[0]["Actor"]["Attributes"] == {"name": mark, "type": "bridge"}
    assert networks[1]["Actor"]["Attributes"] == {"reclaimed": "0"}


def test_volume_and_image_prunes_report_each_removal_then_prune(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    mark = names.new("ev-vprune")
    volume = names.volume("ev-vol")
    ok(cluster.docker("volume", "create", "--label", f"mark={mark}", volume))
    ok(cluster.docker("run", "--rm", "-v", f"{volume}:/v", busybox,
                      "sh", "-c", "echo 12345 > /v/f"))
    tar = cached_busybox_rootfs_tar(tmp_path)
    # An untagged (dangling) image that only this test's filter selects.
    image_id = ok(cluster.docker("import", "--change", f"LABEL mark={mark}", str(tar))).strip()
    since = time.time()
    ok(cluster.docker("volume", "prune", "-f", "-a", "--filter", f"label=mark={mark}"))
    ok(cluster.docker("image", "prune", "-f", "--filter", f"label=mark={mark}"))
    volumes = events_between(cluster, since, "--filter", "type=volume")
    images = events_between(cluster, since, "--filter", "type=image")
    assert [(e["Action"], e["Actor"]["ID"]) for e in volumes] == [
        ("destroy", volume), ("prune", "")]
    assert volumes[0]["Actor"]["Attributes"] == {"driver": "local"}
    assert int(volumes[1]["Actor"]["Attributes"]["reclaimed"]) >= 6
    assert [(e["Action"], e["Actor"]["ID"]) for e in images] == [
        ("delete", image_id), ("prune", "")]
    # Its only layer is busybox's own, which stays: nothing is reclaimed.
    assert images[1]["Actor"]["Attributes"] == {"reclaimed": "0"}

"""Finding what a cut-short start left in a container's cgroup (services/execd/leftovers.py)."""

from __future__ import annotations

import json
from pathlib import Path

from services.execd.leftovers import cgroups_path_of, pids_in


def test_cgroups_path_comes_from_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"linux": {"cgroupsPath": "/dy/abc"}}))
    assert cgroups_path_of(tmp_path) == "/dy/abc"


def test_no_or_odd_cgroups_path_is_none(tmp_path: Path) -> None:
    assert cgroups_path_of(tmp_path) == ""  # no config.json
    odd_documents: list[object] = [{"linux": {}}, {"linux": {"cgroupsPath": "rel/path"}},
                                   {"linux": {"cgroupsPath": "/dy/../etc"}}, ["a", "list"]]
    for odd in odd_documents:
        (tmp_path / "config.json").write_text(json.dumps(odd))
        assert cgroups_path_of(tmp_path) == ""


def test_pids_of_every_hierarchy(tmp_path: Path) -> None:
    for hierarchy, procs in (("memory", "12\n13\n"), ("pids", "13\n14\n"), ("cpu", "")):
        cgroup = tmp_path / hierarchy / "dy" / "abc"
        cgroup.mkdir(parents=True)
        (cgroup / "cgroup.procs").write_text(procs)
    (tmp_path / "freezer").mkdir()  # a hierarchy without the cgroup
    assert pids_in("/dy/abc", root=tmp_path) == {12, 13, 14}
    assert pids_in("", root=tmp_path) == set()

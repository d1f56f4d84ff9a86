"""Walking a cgroup's subtree on a file layout in a temporary directory."""

from __future__ import annotations

from pathlib import Path

from services.cgroupd.driver import procs_below, subtree


def test_processes_below_a_cgroup_include_its_children(tmp_path: Path) -> None:
    child = tmp_path / "parent" / "child"
    child.mkdir(parents=True)
    (tmp_path / "parent" / "cgroup.procs").write_text("12\n")
    (child / "cgroup.procs").write_text("13\n14\n")
    assert procs_below(tmp_path / "parent") == {12, 13, 14}
    assert subtree(tmp_path / "parent") == [child, tmp_path / "parent"]  # rmdir order


def test_a_cgroup_gone_meanwhile_has_nothing_below_it(tmp_path: Path) -> None:
    # runc removes the cgroups of a create that failed while cgroupd may be
    # looking at them: a vanished directory holds no process, it is no error.
    assert procs_below(tmp_path / "gone") == set()
    (tmp_path / "plain-file").write_text("")
    assert subtree(tmp_path / "plain-file") == []

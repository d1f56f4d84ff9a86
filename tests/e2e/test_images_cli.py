"""Images through the stock docker CLI: import, images, inspect, history, tag, rmi, prune."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))


@pytest.fixture
def repo(cluster: Cluster) -> Iterator[str]:
    """A repository name unique to the test; every image left in it is removed afterwards."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    yield name
    listed = cluster.docker("images", "-q", "--no-trunc", name)
    for image_id in set(listed.stdout.split()):
        cluster.docker("rmi", "-f", image_id)


def _ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    out: str = result.stdout
    return out


def _inspect(cluster: Cluster, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(_ok(cluster.docker("image", "inspect", name)))
    return data[0]


def test_import_then_list_inspect_and_history(
    cluster: Cluster, rootfs_tar: Path, repo: str
) -> None:
    out = _ok(cluster.docker("import", "--change", 'CMD ["sh"]', "--change", "ENV A=1",
                             str(rootfs_tar), f"{repo}:latest"))
    image_id = out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71

    listed = _ok(cluster.docker("images", "--format", "{{json .}}", repo))
    rows = [json.loads(line) for line in listed.splitlines()]
    assert len(rows) == 1
    assert rows[0]["Repository"] == repo and rows[0]["Tag"] == "latest"
    assert rows[0]["ID"] == image_id[7:19]
    assert rows[0]["Size"].endswith("MB")
    assert "ago" in rows[0]["CreatedSince"] and "years" not in rows[0]["CreatedSince"]

    info = _inspect(cluster, repo)
    assert info["Id"] == image_id
    assert info["RepoTags"] == [f"{repo}:latest"]
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["Config"]["Env"] == ["A=1"]
    assert info["Comment"] == "Imported from -"
    assert info["Os"] == "linux"
    assert info["RootFS"]["Type"] == "layers"
    assert len(info["RootFS"]["Layers"]) == 1 and info["RootFS"]["Layers"][0].startswith("sha256:")
    assert info["Size"] > 1_000_000
    # By short ID and full ID too, as dockerd resolves them.
    assert _inspect(cluster, image_id[7:19])["Id"] == image_id
    assert _inspect(cluster, image_id)["Id"] == image_id

    history = _ok(cluster.docker("history", "--format", "{{json .}}", repo))
    entries = [json.loads(line) for line in history.splitlines()]
    assert len(entries) == 1
    assert entries[0]["Comment"] == "Imported from -"
    assert entries[0]["ID"] == image_id[7:19]


def test_import_from_stdin(cluster: Cluster, rootfs_tar: Path, repo: str) -> None:
    env_cmd = f"cat {rootfs_tar} | DOCKER_HOST={cluster.docker_host} docker import - {repo}"
    result = subprocess.run(["sh", "-c", env_cmd], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert _inspect(cluster, f"{repo}:latest")["Id"] == result.stdout.strip()


def test_same_archive_twice_shares_its_layer(
    cluster: Cluster, rootfs_tar: Path, repo: str
) -> None:
    first = _ok(cluster.docker("import", str(rootfs_tar), f"{repo}:a")).strip()
    second = _ok(cluster.docker("import", str(rootfs_tar), f"{repo}:b")).strip()
    layers_a = _inspect(cluster, first)["RootFS"]["Layers"]
    assert layers_a == _inspect(cluster, second)["RootFS"]["Layers"]
    # Unpacked once: one layer directory for the shared chain ID.
    overlay = cluster.data_root / "overlay"
    assert (overlay / layers_a[0][7:] / "diff" / "bin" / "busybox").is_file()


def test_tag_and_rmi_untag_then_delete(cluster: Cluster, rootfs_tar: Path, repo: str) -> None:
    image_id = _ok(cluster.docker("import", str(rootfs_tar), f"{repo}:one")).strip()
    _ok(cluster.docker("tag", f"{repo}:one", f"{repo}:two"))
    assert sorted(_inspect(cluster, image_id)["RepoTags"]) == [f"{repo}:one", f"{repo}:two"]

    # By ID while two tags name it: a conflict that must be forced.
    refused = cluster.docker("rmi", image_id[7:19])
    assert refused.returncode != 0
    assert "must be forced" in refused.stderr

    assert _ok(cluster.docker("rmi", f"{repo}:one")).strip() == f"Untagged: {repo}:one"
    assert _inspect(cluster, image_id)["RepoTags"] == [f"{repo}:two"]

    lines = _ok(cluster.docker("rmi", f"{repo}:two")).splitlines()
    assert lines[0] == f"Untagged: {repo}:two"
    assert lines[1] == f"Deleted: {image_id}"
    missing = cluster.docker("image", "inspect", image_id)
    assert missing.returncode != 0
    assert "No such image" in missing.stderr


def test_unknown_image_is_no_such_image(cluster: Cluster) -> None:
    result = cluster.docker("image", "inspect", "no-such-image-here")
    assert result.returncode == 1
    assert "No such image: no-such-image-here:latest" in result.stderr
    bad = cluster.docker("tag", "no-such-image-here", "x:y")
    assert bad.returncode != 0 and "No such image" in bad.stderr


def test_prune_dangling_and_all(cluster: Cluster, rootfs_tar: Path, repo: str) -> None:
    dangling = _ok(cluster.docker("import", str(rootfs_tar))).strip()
    kept = _ok(cluster.docker("import", "--change", "LABEL keep=yes", str(rootfs_tar),
                              f"{repo}:kept")).strip()
    out = _ok(cluster.docker("image", "prune", "-f"))
    assert f"deleted: {dangling}" in out
    assert "Total reclaimed space" in out
    assert _inspect(cluster, kept)["Id"] == kept

    # -a with a label filter that excludes it keeps it; with one that matches removes it.
    _ok(cluster.docker("image", "prune", "-a", "-f", "--filter", "label=keep=no"))
    assert _inspect(cluster, kept)["Id"] == kept
    out = _ok(cluster.docker("image", "prune", "-a", "-f", "--filter", "label=keep=yes"))
    assert f"untagged: {repo}:kept" in out
    assert cluster.docker("image", "inspect", kept).returncode != 0


def test_images_filters(cluster: Cluster, rootfs_tar: Path, repo: str) -> None:
    old = _ok(cluster.docker("import", "--change", "LABEL tier=old", str(rootfs_tar),
                             f"{repo}:old")).strip()
    new = _ok(cluster.docker("import", "--change", "LABEL tier=new", str(rootfs_tar),
                             f"{repo}:new")).strip()

    def ids(*args: str) -> list[str]:
        return _ok(cluster.docker("images", "-q", "--no-trunc", *args)).split()

    assert ids("--filter", "label=tier=old", repo) == [old]
    assert ids("--filter", f"reference={repo}:n*") == [new]
    assert old in ids("--filter", f"before={repo}:new") or new not in ids(
        "--filter", f"before={repo}:new"
    )
    assert new not in ids("--filter", "dangling=true")
    bad = cluster.docker("images", "--filter", "nonsense=1")
    assert bad.returncode != 0 and "invalid filter 'nonsense'" in bad.stderr

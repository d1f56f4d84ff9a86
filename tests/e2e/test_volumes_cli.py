"""docker volume create/ls/inspect/rm/prune through the stock CLI and docker-py."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


@pytest.fixture
def prefix(cluster: Cluster) -> Iterator[str]:
    """A name prefix unique to the test; its volumes are removed afterwards."""
    name = f"e2e-vol-{uuid.uuid4().hex[:8]}"
    yield name
    listed = cluster.docker("volume", "ls", "-q", "--filter", f"name={name}")
    for volume in listed.stdout.split():
        cluster.docker("volume", "rm", "-f", volume)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _inspect(cluster: Cluster, *names: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(_ok(cluster.docker("volume", "inspect", *names)))
    return data


def test_create_ls_inspect_rm(cluster: Cluster, prefix: str) -> None:
    name = f"{prefix}-data"
    assert _ok(cluster.docker("volume", "create", "--label", "team=core", name)).strip() == name
    assert _ok(cluster.docker("volume", "create", name)).strip() == name  # idempotent
    (info,) = _inspect(cluster, name)
    assert info["Name"] == name and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Labels"] == {"team": "core"} and info["Options"] in (None, {})
    assert info["Mountpoint"] == str(cluster.data_root / "volumes" / name / "_data")
    assert Path(info["Mountpoint"]).is_dir()
    assert info["CreatedAt"].endswith("Z")

    rows = [json.loads(line) for line in _ok(cluster.docker(
        "volume", "ls", "--format", "{{json .}}", "--filter", "label=team=core")).splitlines()]
    assert [(r["Name"], r["Driver"]) for r in rows] == [(name, "local")]
    assert _ok(cluster.docker("volume", "ls", "-q", "--filter", f"name={prefix}",
                              "--filter", "dangling=true")).split() == [name]

    assert _ok(cluster.docker("volume", "rm", name)).strip() == name
    assert not Path(info["Mountpoint"]).exists()
    missing = cluster.docker("volume", "inspect", name)
    assert missing.returncode == 1 and f"get {name}: no such volume" in missing.stderr
    assert cluster.docker("volume", "rm", "-f", name).returncode == 0


def test_errors_have_dockers_words(cluster: Cluster) -> None:
    bad = cluster.docker("volume", "create", "bad/name")
    assert bad.returncode == 1
    assert ('"bad/name" includes invalid characters for a local volume name' in bad.stderr)
    option = cluster.docker("volume", "create", "-o", "foo=bar", "e2e-vol-opt")
    assert option.returncode == 1 and 'invalid option: "foo"' in option.stderr
    flt = cluster.docker("volume", "ls", "--filter", "foo=bar")
    assert flt.returncode == 1 and "Invalid filter 'foo'" in flt.stderr
    unknown = cluster.docker("inspect", "--type", "volume", "no-such-volume-x")
    assert unknown.returncode == 1 and "no-such-volume-x" in unknown.stderr


def test_tmpfs_options_and_prune(cluster: Cluster, prefix: str) -> None:
    tmpfs = f"{prefix}-tmpfs"
    _ok(cluster.docker("volume", "create", "-d", "local", "-o", "type=tmpfs", "-o",
                       "device=tmpfs", "-o", "o=size=1m", tmpfs))
    (info,) = _inspect(cluster, tmpfs)
    assert info["Options"] == {"device": "tmpfs", "o": "size=1m", "type": "tmpfs"}

    anonymous = _ok(cluster.docker("volume", "create")).strip()
    assert len(anonymous) == 64
    assert _inspect(cluster, anonymous)[0]["Labels"] == {"com.docker.volume.anonymous": ""}

    # Default prune (API 1.47): anonymous volumes only.
    out = _ok(cluster.docker("volume", "prune", "-f"))
    assert anonymous in out and tmpfs not in out
    assert "Total reclaimed space" in out
    assert _ok(cluster.docker("volume", "ls", "-q", "--filter", f"name={prefix}")).split() == [
        tmpfs]
    out = _ok(cluster.docker("volume", "prune", "-f", "--all", "--filter",
                             f"label!=keep-{prefix}"))
    assert tmpfs in out


def test_docker_py_volumes(cluster: Cluster, prefix: str) -> None:
    client = cluster.client()
    try:
        volume = client.volumes.create(name=f"{prefix}-py", labels={"a": "b"},
                                       driver_opts={"type": "tmpfs", "device": "tmpfs"})
        assert volume.name == f"{prefix}-py"
        assert volume.attrs["Labels"] == {"a": "b"}
        assert client.volumes.get(f"{prefix}-py").attrs["Options"]["type"] == "tmpfs"
        assert f"{prefix}-py" in [v.name for v in client.volumes.list(filters={"label": "a=b"})]
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get(f"{prefix}-nope")
        with pytest.raises(docker.errors.APIError) as bad:
            client.volumes.create(name="x")
        assert bad.value.status_code == 400
        volume.remove()
        assert f"{prefix}-py" not in [v.name for v in client.volumes.list()]
        pruned = client.volumes.prune()
        assert set(pruned) == {"VolumesDeleted", "SpaceReclaimed"}
    finally:
        client.close()

"""docker pull / push / login and digests with the stock docker CLI and docker-py.

Registries are real Debian docker-registry servers on 127.0.0.1 (insecure by
default, as for dockerd). Test images are put there with the Registry API
directly. DOCKER_CONFIG points at a temporary directory, so logins never touch
the host's ~/.docker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import MakeCluster
from tests.support.cluster import Cluster, private_cluster_fixture
from tests.support.registry import Registry
from tests.support.registry_images import (
    HELLO,
    RegistryWriter,
    push_busybox,
    push_hello_world,
)

pytestmark = pytest.mark.root

# Their own cluster: the messages asserted depend on which layers and
# registry blobs the cluster has seen, which other tests change.
cluster = private_cluster_fixture()


@pytest.fixture(autouse=True)
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "docker-config"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    return config


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry-cache")


@pytest.fixture
def repo() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup(cluster: Cluster) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        cluster.docker("rmi", "-f", name)


def _ok(result: object) -> str:
    assert getattr(result, "returncode", 1) == 0, getattr(result, "stderr", "")
    out: str = getattr(result, "stdout", "")
    return out


def test_cli_pull_by_tag_and_digest_and_images_digests(
    cluster: Cluster, registry: Registry, cache_dir: Path, repo: str, cleanup: list[str]
) -> None:
    pushed = push_busybox(RegistryWriter(registry), cache_dir, repo)
    name = registry.name(repo)
    cleanup.extend([name, f"{name}@{pushed.manifest_digest}"])
    out = _ok(cluster.docker("pull", name))
    lines = out.splitlines()
    assert lines[0] == "Using default tag: latest"
    assert lines[1] == f"latest: Pulling from {repo}"
    assert f"{pushed.layer_digests[0][7:19]}: Pull complete" in lines
    assert lines[-3:] == [f"Digest: {pushed.manifest_digest}",
                          f"Status: Downloaded newer image for {name}:latest", f"{name}:latest"]
    again = _ok(cluster.docker("pull", name)).splitlines()
    assert again[-2] == f"Status: Image is up to date for {name}:latest"

    digests = _ok(cluster.docker("images", "--digests", "--format",
                                 "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}", name))
    assert digests.split() == [name, "latest", pushed.manifest_digest, pushed.image_id[7:19]]

    cluster.docker("rmi", name)
    by_digest = f"{name}@{pushed.manifest_digest}"
    out = _ok(cluster.docker("pull", by_digest))
    assert f"{by_digest}: Pulling from {repo}" in out
    assert out.splitlines()[-1] == by_digest
    inspected = _ok(cluster.docker("image", "inspect", "-f", "{{.Id}}", by_digest)).strip()
    assert inspected == pushed.image_id


def test_cli_pull_of_an_unknown_image_fails_as_docker_does(cluster: Cluster,
                                                           registry: Registry) -> None:
    name = registry.name(f"nosuch-{uuid.uuid4().hex[:6]}")
    result = cluster.docker("pull", name)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error response from daemon: manifest for {name}:latest not found: "
        "manifest unknown: manifest unknown")


def test_cli_push_then_pull_back(cluster: Cluster, registry: Registry, cache_dir: Path,
                                 repo: str, cleanup: list[str]) -> None:
    pushed = push_busybox(RegistryWriter(registry), cache_dir, repo)
    source, target = registry.name(repo), registry.name(f"{repo}-pushed")
    cleanup.extend([source, f"{target}:v2"])
    _ok(cluster.docker("pull", source))
    _ok(cluster.docker("tag", source, f"{target}:v2"))
    out = _ok(cluster.docker("push", f"{target}:v2")).splitlines()
    assert out[0] == f"The push refers to repository [{target}]"
    assert out[-1] == f"v2: digest: {pushed.manifest_digest} size: {len(pushed.manifest)}"
    _ok(cluster.docker("rmi", source, f"{target}:v2"))
    _ok(cluster.docker("pull", f"{target}:v2"))
    image_id = _ok(cluster.docker("image", "inspect", "-f", "{{.Id}}", f"{target}:v2")).strip()
    assert image_id == pushed.image_id


def test_cli_login_push_and_pull_with_basic_auth(
    cluster: Cluster, auth_registry: Registry, registry: Registry, cache_dir: Path, repo: str,
    cleanup: list[str],
) -> None:
    pushed = push_busybox(RegistryWriter(registry), cache_dir, repo)
    source, target = registry.name(repo), auth_registry.name(repo)
    cleanup.extend([source, target])
    wrong = cluster.docker("login", "-u", auth_registry.username, "--password-stdin",
                           auth_registry.host, input="wrong\n")
    assert wrong.returncode == 1
    assert (f"Error response from daemon: login attempt to http://{auth_registry.host}/v2/ "
            "failed with status: 401 Unauthorized") in wrong.stderr
    anonymous = cluster.docker("pull", target)
    assert anonymous.returncode == 1
    assert "no basic auth credentials" in anonymous.stderr

    login = cluster.docker("login", "-u", auth_registry.username, "--password-stdin",
                           auth_registry.host, input=auth_registry.password + "\n")
    assert login.returncode == 0, login.stderr
    assert "Login Succeeded" in login.stdout
    _ok(cluster.docker("pull", source))
    _ok(cluster.docker("tag", source, target))
    pushed_out = _ok(cluster.docker("push", target))
    assert f"latest: digest: {pushed.manifest_digest}" in pushed_out
    _ok(cluster.docker("rmi", target))
    _ok(cluster.docker("pull", target))
    _ok(cluster.docker("logout", auth_registry.host))


def test_docker_py_pull_push_and_login(cluster: Cluster, auth_registry: Registry,
                                       registry: Registry, cache_dir: Path, repo: str,
                                       cleanup: list[str]) -> None:
    pushed = push_busybox(RegistryWriter(registry), cache_dir, repo)
    source, target = registry.name(repo), auth_registry.name(f"{repo}-py")
    cleanup.extend([f"{source}:latest", f"{target}:latest"])
    client = cluster.client()
    try:
        image = client.images.pull(source, tag="latest")
        assert image.id == pushed.image_id
        assert image.attrs["RepoDigests"] == [f"{source}@{pushed.manifest_digest}"]
        auth = {"username": auth_registry.username, "password": auth_registry.password}
        assert client.login(registry=auth_registry.host, reauth=True, **auth)["Status"] == \
            "Login Succeeded"
        with pytest.raises(docker.errors.APIError):
            client.login(registry=auth_registry.host, reauth=True,
                         username=auth_registry.username, password="wrong")
        image.tag(target, "latest")
        lines = list(client.images.push(target, tag="latest", auth_config=auth, stream=True,
                                        decode=True))
        assert lines[-1]["aux"]["Digest"] == pushed.manifest_digest
        client.images.remove(f"{target}:latest")
        again = client.images.pull(target, tag="latest", auth_config=auth)
        assert again.id == pushed.image_id
    finally:
        client.close()


def test_first_run_flow_offline_through_a_mirror(make_cluster: MakeCluster, registry: Registry,
                                                 cache_dir: Path) -> None:
    """``docker pull busybox`` / ``hello-world`` come from registry-mirrors under Hub names."""
    writer = RegistryWriter(registry)
    busybox = push_busybox(writer, cache_dir, "library/busybox")
    hello = push_hello_world(writer, cache_dir)
    cluster = make_cluster(daemon_json={"registry-mirrors": [registry.url]})
    out = _ok(cluster.docker("pull", "busybox")).splitlines()
    assert out[1] == "latest: Pulling from library/busybox"
    assert out[-2:] == ["Status: Downloaded newer image for busybox:latest",
                        "docker.io/library/busybox:latest"]
    out = _ok(cluster.docker("pull", "hello-world")).splitlines()
    assert out[-1] == "docker.io/library/hello-world:latest"
    # busybox's layer is shared: only the greeting layer is new.
    assert f"{busybox.layer_digests[0][7:19]}: Already exists" in out
    listed = _ok(cluster.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"))
    assert sorted(listed.splitlines()) == sorted([
        f"busybox:latest {busybox.image_id[7:19]}",
        f"hello-world:latest {hello.image_id[7:19]}",
    ])
    digests = _ok(cluster.docker("image", "inspect", "-f", "{{json .RepoDigests}}", "hello-world"))
    assert digests.strip() == f'["hello-world@{hello.manifest_digest}"]'
    assert _ok(cluster.docker("run", "--rm", "hello-world")) == HELLO + "\n"

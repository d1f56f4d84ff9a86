"""Pull and push against real Debian docker-registry servers, through the Engine API.

Images are put into the registry by :mod:`tests.support.registry_images`
(the Registry API spoken directly), so pull tests do not rely on our push.
Each test works in repositories of its own and removes what it pulled.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conftest import MakeCluster
from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster, private_cluster_fixture
from tests.support.registry import Registry
from tests.support.registry_images import (
    RegistryWriter,
    push_busybox,
    push_five_layers,
    push_two_platforms,
    tar_of,
)

pytestmark = pytest.mark.root

# Their own cluster: the messages asserted depend on which layers and
# registry blobs the cluster has seen, which other tests change.
cluster = private_cluster_fixture()

Message = dict[str, Any]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry-cache")


@pytest.fixture
def api(cluster: Cluster) -> Iterator[docker.APIClient]:
    client = cluster.client()
    yield client.api
    client.close()


@pytest.fixture
def repo() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup(cluster: Cluster) -> Iterator[list[str]]:
    """Image names to remove (forcefully) when the test ends."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.docker("rmi", "-f", name)


def pull(api: docker.APIClient, name: str, tag: str = "latest", **kwargs: Any) -> list[Message]:
    messages: list[Message] = list(api.pull(name, tag=tag, stream=True, decode=True, **kwargs))
    return messages


def statuses(messages: list[Message]) -> list[str]:
    return [m.get("status", "") for m in messages]


def error_of(messages: list[Message]) -> str:
    errors = [m for m in messages if "error" in m]
    assert errors, messages
    assert errors[-1]["errorDetail"] == {"message": errors[-1]["error"]}
    return str(errors[-1]["error"])


def test_pull_by_tag_streams_dockers_messages_and_keeps_the_image_id(
    api: docker.APIClient, registry: Registry, cache_dir: Path, repo: str, cleanup: list[str]
) -> None:
    pushed = push_busybox(RegistryWriter(registry), cache_dir, repo)
    name = registry.name(repo)
    cleanup.append(f"{name}:latest")
    messages = pull(api, name)
    layer = pushed.layer_digests[0][7:19]
    assert messages[0] == {"status": f"Pulling from {repo}", "id": "latest"}
    assert {"status": "Pulling fs layer", "progressDetail": {}, "id": layer} in messages
    downloading = [m for m in messages if m.get("status") == "Downloading"]
    assert downloading and downloading[-1]["progressDetail"]["current"] == \
        downloading[-1]["progressDetail"]["total"]
    assert downloading[-1]["progress"].startswith("[" + "=" * 50 + ">] ")
    order = [s for s in statuses(messages) if s in ("Verifying Checksum", "Download complete",
                                                     "Pull complete")]
    assert order == ["Verifying Checksum", "Download complete", "Pull complete"]
    assert messages[-2] == {"status": f"Digest: {pushed.manifest_digest}"}
    assert messages[-1] == {"status": f"Status: Downloaded newer image for {name}:latest"}

    image = api.inspect_image(name)
    assert image["Id"] == pushed.image_id
    assert image["RepoTags"] == [f"{name}:latest"]
    assert image["RepoDigests"] == [f"{name}@{pushed.manifest_digest}"]
    assert image["RootFS"]["Layers"] == list(pushed.diff_ids)

    again = pull(api, name)
    assert statuses(again) == [f"Pulling from {repo}", f"Digest: {pushed.manifest_digest}",
                               f"Status: Image is up to date for {name}:latest"]


def test_pull_by_digest(api: docker.APIClient, registry: Registry, repo: str,
                        cleanup: list[str]) -> None:
    pushed = push_five_layers(RegistryWriter(registry), repo, oci=True)
    name = registry.name(repo)
    by_digest = f"{name}@{pushed.manifest_digest}"
    cleanup.append(by_digest)
    messages = list(api.pull(name, tag=pushed.manifest_digest, stream=True, decode=True))
    assert messages[0] == {"status": f"Pulling from {repo}", "id": by_digest}
    assert messages[-1] == {"status": f"Status: Downloaded newer image for {by_digest}"}
    image = api.inspect_image(by_digest)
    assert image["Id"] == pushed.image_id
    assert image["RepoTags"] == []
    assert image["RepoDigests"] == [by_digest]


def test_five_layers_with_whiteouts_unpack_as_overlay_layers(
    api: docker.APIClient, registry: Registry, repo: str, cleanup: list[str]
) -> None:
    pushed = push_five_layers(RegistryWriter(registry), repo)
    name = registry.name(repo)
    cleanup.append(name)
    messages = pull(api, name)
    assert statuses(messages).count("Pull complete") == 5
    # Three at a time: the fourth and fifth layers wait for a download slot.
    waiting = [m["id"] for m in messages if m.get("status") == "Waiting"]
    assert waiting == [d[7:19] for d in pushed.layer_digests[3:]]
    image = api.inspect_image(name)
    assert image["Id"] == pushed.image_id
    lower = image["GraphDriver"]["Data"]["LowerDir"].split(":")  # top first
    whiteout_layer, opaque_layer = Path(lower[1]), Path(lower[0])
    gone = os.lstat(whiteout_layer / "etc" / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert (whiteout_layer / "etc" / "keep").read_text() == "kept and changed\n"
    assert os.getxattr(opaque_layer / "data", "trusted.overlay.opaque") == b"y"
    assert sorted(p.name for p in (opaque_layer / "data").iterdir()) == ["new"]
    top = Path(image["GraphDriver"]["Data"]["UpperDir"])
    assert stat.S_IMODE(os.lstat(top / "srv" / "big").st_mode) == 0o600


def test_platform_selection_from_an_index(api: docker.APIClient, registry: Registry,
                                          repo: str, cleanup: list[str]) -> None:
    index, amd64, arm64 = push_two_platforms(RegistryWriter(registry), repo)
    name = registry.name(repo)
    cleanup.append(name)
    pull(api, name)  # the host's platform
    assert api.inspect_image(name)["Id"] == amd64.image_id
    assert api.inspect_image(name)["RepoDigests"] == [f"{name}@{index}"]
    messages = pull(api, name, platform="linux/arm64")
    assert messages[-1]["status"] == f"Status: Downloaded newer image for {name}:latest"
    image = api.inspect_image(name)
    assert (image["Id"], image["Architecture"]) == (arm64.image_id, "arm64")
    with pytest.raises(docker.errors.APIError) as refused:
        pull(api, name, platform="linux/s390x")
    assert "no matching manifest for linux/s390x in the manifest list entries" in str(
        refused.value)
    assert api.inspect_image(name)["Id"] == arm64.image_id


def test_unknown_repository_is_a_404_with_dockers_words(api: docker.APIClient,
                                                        registry: Registry) -> None:
    name = registry.name(f"nosuch-{uuid.uuid4().hex[:6]}")
    with pytest.raises(docker.errors.NotFound) as missing:
        pull(api, name)
    assert missing.value.explanation == (
        f"manifest for {name}:latest not found: manifest unknown: manifest unknown")


def test_basic_auth_registry(api: docker.APIClient, auth_registry: Registry, cache_dir: Path,
                             repo: str, cleanup: list[str]) -> None:
    pushed = push_busybox(RegistryWriter(auth_registry), cache_dir, repo)
    name = auth_registry.name(repo)
    cleanup.append(name)
    with pytest.raises(docker.errors.APIError) as anonymous:
        pull(api, name)
    assert anonymous.value.explanation == (
        f'Head "http://{auth_registry.host}/v2/{repo}/manifests/latest": '
        "no basic auth credentials")
    wrong = {"username": auth_registry.username, "password": "wrong"}
    with pytest.raises(docker.errors.APIError) as refused:
        pull(api, name, auth_config=wrong)
    assert refused.value.explanation == "unauthorized: authentication required"
    right = {"username": auth_registry.username, "password": auth_registry.password}
    pull(api, name, auth_config=right)
    assert api.inspect_image(name)["Id"] == pushed.image_id

    login = api.login(auth_registry.username, auth_registry.password,
                      registry=auth_registry.host, reauth=True)
    assert login == {"IdentityToken": "", "Status": "Login Succeeded"}
    with pytest.raises(docker.errors.APIError) as bad_login:
        api.login(auth_registry.username, "wrong", registry=auth_registry.host, reauth=True)
    assert bad_login.value.status_code == 401
    assert bad_login.value.explanation == (
        f"login attempt to http://{auth_registry.host}/v2/ failed with status: "
        "401 Unauthorized")


def test_push_round_trip_mounts_and_keeps_the_image_id(
    api: docker.APIClient, cluster: Cluster, registry: Registry, cache_dir: Path, repo: str,
    cleanup: list[str],
) -> None:
    pushed = push_busybox(RegistryWriter(registry), cache_dir, repo)
    source, target = registry.name(repo), registry.name(f"{repo}-copy")
    cleanup.extend([source, f"{target}:v1"])
    pull(api, source)
    api.tag(source, target, "v1")
    messages = list(api.push(target, tag="v1", stream=True, decode=True))
    layer = pushed.diff_ids[0][7:19]
    assert messages[0] == {"status": f"The push refers to repository [{target}]"}
    assert {"status": "Preparing", "progressDetail": {}, "id": layer} in messages
    assert {"status": f"Mounted from {repo}", "progressDetail": {}, "id": layer} in messages
    # Same config, same compressed layer: the manifest comes out byte for byte the same.
    size = len(pushed.manifest)
    assert messages[-2] == {"status": f"v1: digest: {pushed.manifest_digest} size: {size}"}
    assert messages[-1] == {"progressDetail": {}, "aux": {
        "Tag": "v1", "Digest": pushed.manifest_digest, "Size": size}}
    assert f"{target}@{pushed.manifest_digest}" in api.inspect_image(f"{target}:v1")["RepoDigests"]

    again = list(api.push(target, tag="v1", stream=True, decode=True))
    assert {"status": "Layer already exists", "progressDetail": {}, "id": layer} in again

    cluster.docker("rmi", "-f", f"{target}:v1")
    pull(api, target, tag="v1")
    assert api.inspect_image(f"{target}:v1")["Id"] == pushed.image_id


def test_push_of_an_imported_image_pulls_back_with_the_same_id(
    api: docker.APIClient, make_cluster: MakeCluster, registry: Registry, cache_dir: Path,
    repo: str, cleanup: list[str], tmp_path: Path,
) -> None:
    archive = tmp_path / "layer.tar"  # plain tar: the push must gzip it
    archive.write_bytes(tar_of([("greeting", b"hi\n", 0o644), ("etc/", None, 0o755)]))
    name = registry.name(repo)
    cleanup.append(f"{name}:1")
    with archive.open("rb") as body:
        result = api.import_image_from_data(body.read(), repository=name, tag="1")
    image_id = json.loads(result)["status"] if isinstance(result, str) else result["status"]
    messages = list(api.push(name, tag="1", stream=True, decode=True))
    assert "Pushed" in statuses(messages), messages
    digest = messages[-1]["aux"]["Digest"]

    other = make_cluster()
    client = other.client()
    try:
        pull(client.api, name, tag="1")
        image = client.api.inspect_image(f"{name}:1")
        assert image["Id"] == image_id
        assert image["RepoDigests"] == [f"{name}@{digest}"]
    finally:
        client.close()


def test_a_layer_that_does_not_match_its_digest_is_refused_and_nothing_is_kept(
    api: docker.APIClient, cluster: Cluster, registry: Registry, repo: str
) -> None:
    pushed = push_five_layers(RegistryWriter(registry), repo)
    bad = pushed.layer_digests[2]
    data = (registry.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / bad[7:9]
            / bad[7:] / "data")
    original = data.read_bytes()
    data.write_bytes(bytes(len(original)))  # same size, other bytes
    layers_before = set((cluster.data_root / "overlay").iterdir())
    blobs_before = set((cluster.data_root / "image" / "blobs" / "sha256").iterdir())
    name = registry.name(repo)
    messages = pull(api, name)
    assert error_of(messages) == f"filesystem layer verification failed for digest {bad}"
    assert api.images(name=name) == []
    with pytest.raises(docker.errors.ImageNotFound):
        api.inspect_image(pushed.image_id)
    assert set((cluster.data_root / "overlay").iterdir()) == layers_before
    assert set((cluster.data_root / "image" / "blobs" / "sha256").iterdir()) == blobs_before
    assert list((cluster.data_root / "image" / "tmp").iterdir()) == []


def test_distribution_inspect(api: docker.APIClient, registry: Registry, repo: str) -> None:
    index, _, _ = push_two_platforms(RegistryWriter(registry), repo)
    info = api.inspect_distribution(registry.name(repo))
    assert info["Descriptor"]["digest"] == index
    assert info["Descriptor"]["mediaType"] == (
        "application/vnd.docker.distribution.manifest.list.v2+json")
    assert info["Platforms"] == [{"architecture": "amd64", "os": "linux"},
                                 {"architecture": "arm64", "os": "linux", "variant": "v8"}]
    single = api.inspect_distribution(registry.name(f"{repo}:amd64-only"))
    assert single["Platforms"] == [{"architecture": "amd64", "os": "linux"}]
    with pytest.raises(docker.errors.NotFound):
        api.inspect_distribution(registry.name(f"{repo}:nosuch"))


def test_busybox_rootfs_fixture_is_cached(cache_dir: Path) -> None:
    # The registry images reuse the cached busybox tarball; it must exist once built.
    assert cached_busybox_rootfs_tar(cache_dir).exists()

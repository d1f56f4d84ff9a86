"""save, load and import through the stock docker CLI (and docker-py) against a real cluster."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import subprocess
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import DOCKER_CLI, Cluster

pytestmark = pytest.mark.root

REAL_DOCKER_SAVE = Path(__file__).parent.parent / "data" / "docker-save-20.10.tar"
# What dockerd 20.10.24 reported for the image in that archive (`docker inspect`).
REAL_DOCKER_ID = "sha256:25043a5cef871f858d6a83c05959059bb2593c85f5944d65a37e8edf1ea79f8e"


def small_rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("etc/motd", b"hi\n"), ("bin/tool", b"#!/bin/sh\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def repo(cluster: Cluster) -> Iterator[str]:
    name = f"e2e-arch-{uuid.uuid4().hex[:8]}"
    yield name
    for image_id in set(cluster.docker("images", "-q", "--no-trunc", name).stdout.split()):
        cluster.docker("rmi", "-f", image_id)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _inspect(cluster: Cluster, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(_ok(cluster.docker("image", "inspect", name)))
    return data[0]


def test_load_a_real_docker_save_keeps_its_id(cluster: Cluster) -> None:
    try:
        out = _ok(cluster.docker("load", "-i", str(REAL_DOCKER_SAVE)))
        assert out.strip() == "Loaded image: dockyard-fixture:v1"
        info = _inspect(cluster, "dockyard-fixture:v1")
        assert info["Id"] == REAL_DOCKER_ID
        assert info["Config"]["Cmd"] == ["/bin/greet"]
        assert info["Config"]["Labels"] == {"org.example": "dockyard"}
    finally:
        cluster.docker("rmi", "-f", "dockyard-fixture:v1")


def test_save_to_a_file_then_load_it_back(cluster: Cluster, repo: str, tmp_path: Path) -> None:
    image_id = _ok(cluster.docker("import", "-", f"{repo}:1",
                                  input=small_rootfs().decode("latin-1"))).strip()
    _ok(cluster.docker("tag", f"{repo}:1", f"{repo}:2"))
    target = tmp_path / "out.tar"
    _ok(cluster.docker("save", "-o", str(target), repo))
    with tarfile.open(target) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"index.json", "manifest.json", "oci-layout", "repositories"} <= set(names)
    assert sorted(manifest[0]["RepoTags"]) == [f"{repo}:1", f"{repo}:2"]
    _ok(cluster.docker("rmi", f"{repo}:1", f"{repo}:2"))
    out = _ok(cluster.docker("load", "-i", str(target)))
    assert sorted(out.splitlines()) == [f"Loaded image: {repo}:1", f"Loaded image: {repo}:2"]
    assert _inspect(cluster, f"{repo}:2")["Id"] == image_id


def test_save_piped_into_load(cluster: Cluster, repo: str) -> None:
    image_id = _ok(cluster.docker("import", "-", f"{repo}:pipe",
                                  input=small_rootfs().decode("latin-1"))).strip()
    env = {"DOCKER_HOST": cluster.docker_host}
    saved = subprocess.run([DOCKER_CLI, "save", f"{repo}:pipe"], capture_output=True,
                           env=env, check=True, timeout=60).stdout
    _ok(cluster.docker("rmi", f"{repo}:pipe"))
    loaded = subprocess.run([DOCKER_CLI, "load"], input=saved, capture_output=True, env=env,
                            check=False, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.decode().strip() == f"Loaded image: {repo}:pipe"
    assert _inspect(cluster, f"{repo}:pipe")["Id"] == image_id


def test_bad_load_and_save_fail_with_a_clear_message(cluster: Cluster, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar archive at all\n" * 40)
    result = cluster.docker("load", "-i", str(bad))
    assert result.returncode == 1
    assert "invalid tar archive" in result.stderr
    missing = cluster.docker("save", "-o", str(tmp_path / "x.tar"), "no-such-image:1")
    assert missing.returncode == 1
    assert "No such image: no-such-image:1" in missing.stderr


@contextlib.contextmanager
def serving_file(directory: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_import_from_a_url(cluster: Cluster, repo: str, tmp_path: Path) -> None:
    (tmp_path / "rootfs.tar").write_bytes(small_rootfs())
    with serving_file(tmp_path) as base:
        out = _ok(cluster.docker("import", "--change", "ENV FROM_URL=1", f"{base}/rootfs.tar",
                                 f"{repo}:url"))
        assert out.strip().splitlines()[-1].startswith("sha256:")
        info = _inspect(cluster, f"{repo}:url")
        assert info["Comment"] == f"Imported from {base}/rootfs.tar"
        assert info["Config"]["Env"] == ["FROM_URL=1"]
        missing = cluster.docker("import", f"{base}/missing.tar", f"{repo}:missing")
        assert missing.returncode == 1 and "404" in missing.stderr


def test_import_from_stdin_with_every_change(cluster: Cluster, repo: str) -> None:
    changes = [
        'CMD ["/bin/tool", "--serve"]', "ENTRYPOINT /bin/sh -c", "ENV A=1 B=two",
        "WORKDIR /srv", "EXPOSE 8080/tcp 53/udp", "LABEL team=core", "USER 1000:1000",
        "VOLUME /data", "HEALTHCHECK --interval=5s --retries=3 CMD /bin/tool --check",
        "ONBUILD RUN echo hi", "STOPSIGNAL SIGINT",
    ]
    args = [arg for change in changes for arg in ("--change", change)]
    _ok(cluster.docker("import", *args, "-", f"{repo}:changes",
                       input=small_rootfs().decode("latin-1")))
    config = _inspect(cluster, f"{repo}:changes")["Config"]
    assert config["Cmd"] == ["/bin/tool", "--serve"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh -c"]
    assert config["Env"] == ["A=1", "B=two"]
    assert config["WorkingDir"] == "/srv"
    assert config["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert config["Labels"] == {"team": "core"}
    assert config["User"] == "1000:1000"
    assert config["Volumes"] == {"/data": {}}
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "/bin/tool --check"],
                                     "Interval": 5_000_000_000, "Retries": 3}
    assert config["OnBuild"] == ["RUN echo hi"]
    assert config["StopSignal"] == "SIGINT"
    refused = cluster.docker("import", "--change", "RUN echo", "-", f"{repo}:bad",
                             input=small_rootfs().decode("latin-1"))
    assert refused.returncode == 1 and "run is not a valid change command" in refused.stderr


def test_docker_py_save_and_load(cluster: Cluster, repo: str) -> None:
    client = cluster.client()
    try:
        image_id = _ok(cluster.docker("import", "-", f"{repo}:py",
                                      input=small_rootfs().decode("latin-1"))).strip()
        data = b"".join(client.images.get(f"{repo}:py").save(named=True))
        client.images.remove(f"{repo}:py")
        loaded = client.images.load(data)
        assert [image.id for image in loaded] == [image_id]
        assert client.images.get(f"{repo}:py").id == image_id
    finally:
        client.close()

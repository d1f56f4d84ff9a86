"""Debian's docker-compose 1.29 against the cluster: a two-service project finds itself.

The services use ``dns: [127.0.0.1]`` so a name the embedded DNS does not know
is forwarded to loopback, never to the host's resolvers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster
from tests.support.sandbox_leftovers import wait_for_no_leftovers

pytestmark = pytest.mark.root

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"

PROJECT_FILE = """\
version: "3.7"
services:
  web:
    image: busybox
    dns: [127.0.0.1]
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
  client:
    image: busybox
    dns: [127.0.0.1]
    depends_on: [web]
    command: ["sh", "-c", "for i in $$(seq 1 100); do wget -q -O - http://web:8080/index.html && break; sleep 0.2; done; exec sleep 300"]
"""  # noqa: E501


@pytest.fixture(scope="module")
def busybox(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    if cluster.docker("image", "inspect", "busybox:latest").returncode != 0:
        tar = cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))
        imported = cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest")
        assert imported.returncode == 0, imported.stderr
    return "busybox"


def compose(cluster: Cluster, project_dir: Path, project: str, *args: str,
            api_version: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    if api_version:
        env["COMPOSE_API_VERSION"] = api_version
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run([COMPOSE, "--no-ansi", "-p", project, *args], cwd=project_dir,
                          capture_output=True, text=True, timeout=180, env=env, check=False)


@pytest.mark.skipif(not Path(COMPOSE).exists(), reason="Debian's docker-compose is not installed")
def test_two_services_find_each_other_by_service_name(
    cluster: Cluster, busybox: str, tmp_path: Path
) -> None:
    project = f"dy{uuid.uuid4().hex[:8]}"
    (tmp_path / "docker-compose.yml").write_text(PROJECT_FILE)
    try:
        up = compose(cluster, tmp_path, project, "up", "-d")
        assert up.returncode == 0, up.stderr
        assert f'Creating network "{project}_default" with the default driver' in up.stderr

        deadline = time.monotonic() + 30
        logs = ""
        while "hello-from-web" not in logs and time.monotonic() < deadline:
            time.sleep(0.3)
            logs = compose(cluster, tmp_path, project, "logs", "client").stdout
        assert "hello-from-web" in logs, logs

        ps = compose(cluster, tmp_path, project, "ps")
        assert ps.returncode == 0, ps.stderr
        rows = {line.split()[0]: line for line in ps.stdout.splitlines()[2:] if line.strip()}
        assert set(rows) == {f"{project}_web_1", f"{project}_client_1"}
        assert all(" Up " in f"{row} " for row in rows.values()), ps.stdout

        network = json.loads(cluster.docker("network", "inspect", f"{project}_default").stdout)[0]
        assert network["Labels"]["com.docker.compose.project"] == project
        assert {c["Name"] for c in network["Containers"].values()} == set(rows)
        web = json.loads(cluster.docker("inspect", f"{project}_web_1").stdout)[0]
        assert "web" in web["NetworkSettings"]["Networks"][f"{project}_default"]["Aliases"]

        # A changed service is recreated: compose renames the running one aside, creates
        # the new one, then removes the old; the name "web" follows. API 1.44: with 1.45+
        # images have no ContainerConfig, which compose 1.29 needs here (as with dockerd).
        (tmp_path / "docker-compose.yml").write_text(
            PROJECT_FILE.replace("hello-from-web", "hello-again"))
        again = compose(cluster, tmp_path, project, "up", "-d", api_version="1.44")
        assert again.returncode == 0, again.stderr
        assert f"Recreating {project}_web_1" in again.stderr
        fetched = compose(cluster, tmp_path, project, "exec", "-T", "client", "wget", "-q",
                          "-O", "-", "http://web:8080/index.html")
        assert fetched.stdout == "hello-again\n", fetched.stderr
        names = cluster.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
        assert not [n for n in names if n.endswith(f"_{project}_web_1")]

        down = compose(cluster, tmp_path, project, "down")
        assert down.returncode == 0, down.stderr
        assert f"Removing network {project}_default" in down.stderr
        left = cluster.docker("ps", "-aq", "--filter",
                              f"label=com.docker.compose.project={project}")
        assert left.returncode == 0 and left.stdout.strip() == ""
        names = cluster.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
        assert f"{project}_default" not in names
        assert wait_for_no_leftovers(cluster) == []
    finally:
        compose(cluster, tmp_path, project, "down", "-t", "0")

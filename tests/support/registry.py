"""Real Debian ``docker-registry`` servers on 127.0.0.1, for pull/push tests.

:func:`running_registry` starts ``/usr/bin/docker-registry serve`` with a
config written to a fresh temporary directory (storage lives there too) on a
free loopback port, waits until ``/v2/`` answers, and on exit stops that one
process by its PID and removes the directory. With ``auth=True`` the registry
asks for HTTP Basic credentials checked against an htpasswd file whose bcrypt
line is generated here.

The fixtures ``registry`` (plain) and ``auth_registry`` are session-scoped:
tests share them and keep apart by using repository names of their own.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from tests.support.etcd import free_port

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
START_SECONDS = 15.0
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Registry:
    """One running registry: where it listens, its files, and its credentials."""

    host: str
    """``127.0.0.1:PORT``: the registry part of image names (``127.0.0.1:PORT/busybox``)."""
    workdir: Path
    pid: int
    username: str = ""
    password: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        return self.workdir / "storage"

    @property
    def log_file(self) -> Path:
        return self.workdir / "registry.log"

    def name(self, repository: str) -> str:
        """The image name of ``repository`` on this registry."""
        return f"{self.host}/{repository}"


def htpasswd_line(username: str, password: str) -> str:
    """An htpasswd entry in the bcrypt form the registry accepts (``$2y$``)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{username}:{hashed.replace('$2b$', '$2y$', 1)}\n"


def _config(port: int, storage: Path, htpasswd: Path | None) -> str:
    # JSON is YAML: no YAML writer needed, and no quoting surprises.
    import json

    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "dockyard-test", "path": str(htpasswd)}}
    return json.dumps(config, indent=2)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v2/", timeout=1):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # the auth registry is up and asks for credentials
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"docker-registry did not start: {log_file.read_text()}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_registry(*, auth: bool = False) -> Iterator[Registry]:
    """Start a registry (with Basic auth when ``auth``); yield it; stop it and remove its files."""
    if not REGISTRY_BINARY.exists():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-registry-"))
    username, password = ("", "")
    htpasswd: Path | None = None
    if auth:
        username, password = "tester", secrets.token_urlsafe(12)
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(htpasswd_line(username, password))
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(_config(port, workdir / "storage", htpasswd))
    log_file = workdir / "registry.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [str(REGISTRY_BINARY), "serve", str(config)],
            stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process, log_file)
        yield Registry(f"127.0.0.1:{port}", workdir, process.pid, username, password)
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """A plain registry shared by the session."""
    with running_registry() as started:
        yield started


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    """A registry that wants HTTP Basic credentials (``.username``/``.password``)."""
    with running_registry(auth=True) as started:
        yield started

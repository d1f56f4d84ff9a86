"""Fixtures every e2e module shares, and the check that every answer a client gets in an
e2e test is what the spec documents.

``busybox`` (the image, once per module) and ``names`` (container names a test
makes, removed afterwards) serve the modules that use the session cluster.

An autouse fixture hooks every docker-py APIClient made during a test (see
tests/support/api_capture.py) and, when the test ends, checks each recorded answer
against engine-api-v1.47.yaml (tests/support/spec_responses.py): a mismatch fails
the test with the operation, the JSON path and the problem. Clients made outside
the test (module fixtures) are not hooked.

The docker CLI's answers are checked the same way: each ``Cluster.docker(...)`` goes
through a recording proxy (tests/support/api_proxy.py) that passes every byte on
unchanged. DOCKYARD_E2E_SPEC_PROXY=0 turns that off (the CLI then talks to the
engine directly, e.g. to see its own words when the engine is down).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.support.api_capture import ResponseRecorder
from tests.support.api_proxy import RecordingProxy
from tests.support.cli_containers import Names, cleaned_names, ensure_busybox
from tests.support.cluster import Cluster

# Modules whose answers are checked elsewhere: the fuzzer sends what no client would,
# and checks statuses with schemathesis' own checks.
UNCHECKED_MODULES = frozenset({"test_api_fuzz"})


@pytest.fixture(autouse=True)
def answers_match_the_spec(request: pytest.FixtureRequest,
                           monkeypatch: pytest.MonkeyPatch) -> Iterator[ResponseRecorder]:
    recorder = ResponseRecorder()
    if request.module.__name__.rsplit(".", 1)[-1] in UNCHECKED_MODULES:
        yield recorder
        return
    original = docker.APIClient.__init__

    def hooked(client: docker.APIClient, *args: Any, **kwargs: Any) -> None:
        original(client, *args, **kwargs)
        recorder.attach(client)

    monkeypatch.setattr(docker.APIClient, "__init__", hooked)
    yield recorder
    monkeypatch.setattr(docker.APIClient, "__init__", original)
    problems = recorder.problems()
    assert not problems, (f"{len(problems)} answers docker-py got differ from the spec:\n"
                          + "\n".join(f"  {problem}" for problem in problems))


@pytest.fixture(autouse=True)
def cli_answers_match_the_spec(request: pytest.FixtureRequest,
                               monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if os.environ.get("DOCKYARD_E2E_SPEC_PROXY") == "0" \
            or request.module.__name__.rsplit(".", 1)[-1] in UNCHECKED_MODULES:
        yield
        return
    proxies: dict[Path, RecordingProxy] = {}
    original = Cluster.docker

    def through_proxy(cluster: Cluster, *args: str, **kwargs: Any,
                      ) -> subprocess.CompletedProcess[str]:
        if not cluster.docker_host.startswith("unix://"):
            return original(cluster, *args, **kwargs)
        proxy = proxies.get(cluster.socket)
        if proxy is None:
            listen = Path(tempfile.mkdtemp(prefix="dy-spec-proxy-", dir="/tmp")) / "api.sock"
            proxy = proxies[cluster.socket] = RecordingProxy(cluster.socket, listen).__enter__()
        return original(dataclasses.replace(cluster, host=proxy.docker_host), *args, **kwargs)

    monkeypatch.setattr(Cluster, "docker", through_proxy)
    yield
    monkeypatch.setattr(Cluster, "docker", original)
    problems = []
    for proxy in proxies.values():
        proxy.__exit__(None, None, None)
        shutil.rmtree(proxy.listen.parent, ignore_errors=True)
        problems += proxy.problems()
    assert not problems, (f"{len(problems)} answers the docker CLI got differ from the spec:\n"
                          + "\n".join(f"  {problem}" for problem in problems))


@pytest.fixture(scope="module")
def busybox(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_busybox(cluster, tmp_path_factory)


@pytest.fixture
def names(cluster: Cluster) -> Iterator[Names]:
    yield from cleaned_names(cluster)

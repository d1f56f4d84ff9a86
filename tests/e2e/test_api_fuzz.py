"""Fuzzing the Engine API with schemathesis against engine-api-v1.47.yaml.

Every operation of the spec gets a bounded number of generated requests, valid
ones and ones that break the spec (wrong types, malformed JSON values, bad
booleans and integers), against a private cluster listening on loopback TCP.
A request passes when the gateway answers within :data:`REQUEST_TIMEOUT` with
a status below 500, and every error is dockerd's ``{"message": "..."}`` JSON.
Afterwards every object the cluster lists still inspects, no component has
restarted, and the cluster still serves.

No operation is left out. Those that wait or stream by design (as dockerd's
do: /wait, /events, follow and stream modes, stop timeouts) and those that
reach a registry are bounded or pointed at a closed loopback port by
:mod:`tests.support.fuzz_cases`; Swarm, plugin, build and session endpoints,
which Dockyard does not have, must answer a clean 404 like any unknown path.
A second test walks every field of every JSON body with values of the wrong type.

``DOCKYARD_FUZZ_EXAMPLES`` raises the number of cases per operation and mode;
``DOCKYARD_FUZZ_SEED`` picks a seed (the default run is derandomized, so CI
sees the same cases each time); ``DOCKYARD_FUZZ_LOG=<file>`` writes every answer there.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err

from gateway.routes import ALL_ROUTES
from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster, start_cluster
from tests.support.fuzz_cases import (
    NOWHERE_REGISTRY,
    RealObjects,
    registry_unreachable,
    shape_case,
)
from tests.support.netclean import owned_links
from tests.support.type_sweep import load_spec, wrong_bodies
from tests.unit.spec_schema import SPEC

pytestmark = pytest.mark.root

EXAMPLES = int(os.environ.get("DOCKYARD_FUZZ_EXAMPLES", "8"))
# Operations the gateway has no route for (Swarm, plugins, build …) all reach
# the same "page not found": a couple of cases each show it.
UNROUTED_EXAMPLES = 2
SEED = os.environ.get("DOCKYARD_FUZZ_SEED")
# Every answer, for reading what the errors say.
LOG_FILE = os.environ.get("DOCKYARD_FUZZ_LOG")
# Generous for a loaded 2-core machine; a handler that hangs exceeds it by far.
REQUEST_TIMEOUT = 30.0

# Run last, in this order: they remove the real objects the others address.
DESTRUCTIVE = (
    ("DELETE", "/containers/{id}"), ("DELETE", "/images/{name}"),
    ("DELETE", "/networks/{id}"), ("DELETE", "/volumes/{name}"),
    ("POST", "/containers/prune"), ("POST", "/images/prune"),
    ("POST", "/networks/prune"), ("POST", "/volumes/prune"),
)

# Tar bodies (image load, plugin create) are sent as the raw bytes generated.
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")


@dataclass
class Problems:
    """What the fuzz found, one example per distinct problem."""

    found: dict[tuple[str, str], str] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, operation: str, problem: str, reproduce: str) -> None:
        self.found.setdefault((operation, problem), reproduce)

    def report(self) -> str:
        return "\n".join(
            f"{operation}: {problem}\n    {reproduce}"
            for (operation, problem), reproduce in sorted(self.found.items())
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _import_busybox(cluster: Cluster, tar: Path) -> None:
    # With a CMD, generated create bodies without one get past "No command specified".
    imported = cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), "busybox")
    assert imported.returncode == 0, imported.stderr


@pytest.fixture(scope="module")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))


@pytest.fixture(scope="module")
def fuzz_cluster(busybox_tar: Path) -> Iterator[Cluster]:
    # Loopback TCP: the HTTP client schemathesis drives speaks TCP, not unix sockets.
    cluster = start_cluster(host=f"tcp://127.0.0.1:{_free_port()}")
    try:
        _import_busybox(cluster, busybox_tar)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def real_objects(fuzz_cluster: Cluster) -> RealObjects:
    """A running, a created and an exited container, execs, a network and a volume."""
    client = fuzz_cluster.client()
    try:
        # Exits at once on SIGTERM, so stops and restarts do not wait.
        running = client.containers.run(
            "busybox", ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
            name="fuzz-running", detach=True)
        created = client.containers.create("busybox", ["true"], name="fuzz-created")
        exited = client.containers.run("busybox", ["true"], name="fuzz-exited", detach=True)
        exited.wait(timeout=60)
        network = client.networks.create("fuzz-net")
        client.volumes.create("fuzz-vol")
        execs = tuple(
            client.api.exec_create(running.id, ["true"], tty=tty)["Id"] for tty in (False, True)
        )
        image = client.images.get("busybox")
        assert image.id is not None
        return RealObjects(
            containers=(str(running.id), str(created.id), str(exited.id), "fuzz-running"),
            exited=str(exited.id),
            execs=execs,
            networks=(str(network.id), "fuzz-net", "bridge"),
            volumes=("fuzz-vol",),
            images=("busybox", "busybox:latest", image.id),
        )
    finally:
        client.close()


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_path(SPEC)
    # Reproductions must show the values sent: "detachKeys" and "X-Registry-Auth"
    # would print as [Filtered], and nothing here is secret.
    schema.config.output.sanitization.update(enabled=False)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the spec itself failed to load: nothing to fuzz
        operations.append(result.ok())
    last = {key: index for index, key in enumerate(DESTRUCTIVE)}
    # A stable sort: spec order, then the destructive ones in their own order.
    return sorted(operations, key=lambda op: last.get((op.method.upper(), op.path), -1))


def _routed() -> frozenset[tuple[str, str]]:
    """(method, spec path) of every route the gateway serves."""
    return frozenset((route.method, route.path.replace(":.+", "")) for route in ALL_ROUTES)


def _check_response(response: schemathesis.Response, method: str) -> str | None:
    """What is wrong with one answer, or None."""
    status = response.status_code
    text = response.content.decode(errors="replace")[:200]
    if status >= 500:
        return f"{status}: {text!r}"
    if status < 400 or method == "HEAD":
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        return f"{status} error with Content-Type {content_type!r}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{status} error body is not JSON: {text!r}"
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) \
            or not body["message"]:
        return f"{status} error body has no message: {text!r}"
    return None


def _fuzz_operation(operation: Any, base_url: str, real: RealObjects,
                    session: requests.Session, problems: Problems, examples: int) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        @settings(max_examples=examples, deadline=None, database=None,
                  derandomize=SEED is None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def one_request(case: Any, data: st.DataObject) -> None:
            shape_case(case, real, data.draw)
            reproduce = case.as_curl_command(base_url=base_url)
            sent = time.monotonic()
            try:
                # The whole body is read: a stream that never ends is a hang too.
                response = case.call(base_url=base_url, session=session,
                                     timeout=REQUEST_TIMEOUT)
            except requests.Timeout:
                problems.add(label, f"no answer within {REQUEST_TIMEOUT:.0f}s", reproduce)
                return
            except requests.RequestException as exc:
                problems.add(label, f"connection failed: {type(exc).__name__}", reproduce)
                return
            if time.monotonic() - sent > REQUEST_TIMEOUT:
                # A body trickling in for longer than a request may take.
                problems.add(label, f"answer took over {REQUEST_TIMEOUT:.0f}s", reproduce)
            problems.statuses[label][response.status_code] += 1
            if LOG_FILE:
                with open(LOG_FILE, "a") as log:
                    log.write(f"{label} {response.status_code} "
                              f"{response.content[:300]!r}\n    {reproduce}\n")
            if registry_unreachable(case.method.upper(), case.path, response.status_code,
                                    response.content):
                return
            problem = _check_response(response, case.method.upper())
            if problem is not None:
                problems.add(label, problem, reproduce)

        if SEED is not None:
            one_request = seed(int(SEED))(one_request)
        try:
            one_request()
        except Unsatisfiable:
            # Negative mode has nothing to break in an operation whose only
            # inputs are free-form strings (a path parameter, say).
            continue


def test_wrong_json_types_are_refused(fuzz_cluster: Cluster, real_objects: RealObjects) -> None:
    """Every field of every JSON body, down to four levels, given values of other types."""
    spec = load_spec(SPEC)
    base_url = fuzz_cluster.docker_host.replace("tcp://", "http://") + "/v1.47"
    running, network = real_objects.containers[0], real_objects.networks[0]
    names = (f"sweep{n}" for n in itertools.count())
    problems = Problems()
    started = time.monotonic()
    with requests.Session() as session:

        def new_exec() -> str:
            created = session.post(f"{base_url}/containers/{running}/exec",
                                   json={"Cmd": ["true"]}, timeout=REQUEST_TIMEOUT)
            exec_id: str = created.json()["Id"]
            return exec_id

        targets: list[tuple[str, str, Callable[[], tuple[str, dict[str, Any]]]]] = [
            ("POST", "/containers/create",
             lambda: ("/containers/create", {"Image": "busybox", "Cmd": ["true"]})),
            ("POST", "/containers/{id}/update", lambda: (f"/containers/{running}/update", {})),
            ("POST", "/containers/{id}/exec",
             lambda: (f"/containers/{running}/exec", {"Cmd": ["true"]})),
            ("POST", "/exec/{id}/start", lambda: (f"/exec/{new_exec()}/start", {"Detach": True})),
            ("POST", "/networks/create", lambda: ("/networks/create", {"Name": next(names)})),
            ("POST", "/networks/{id}/connect",
             lambda: (f"/networks/{network}/connect", {"Container": running})),
            ("POST", "/networks/{id}/disconnect",
             lambda: (f"/networks/{network}/disconnect", {"Container": running})),
            ("POST", "/volumes/create", lambda: ("/volumes/create", {"Name": next(names)})),
            ("POST", "/commit", lambda: (f"/commit?container={running}&pause=0", {})),
            ("POST", "/auth", lambda: ("/auth", {"serveraddress": NOWHERE_REGISTRY})),
        ]
        for method, path, make in targets:
            _, template = make()
            for change, body in wrong_bodies(spec, method, path, template):
                if change.startswith("serveraddress="):
                    continue  # a login with no usable address would go to Docker Hub
                url, _ = make()
                reproduce = f"curl -X {method} {base_url}{url} -d '{json.dumps(body)}'"
                response = session.request(
                    method, base_url + url, data=json.dumps(body),
                    headers={"Content-Type": "application/json"}, timeout=REQUEST_TIMEOUT)
                answer = schemathesis.Response.from_requests(response, verify=True)
                if registry_unreachable(method, path, answer.status_code, answer.content):
                    continue
                problem = _check_response(answer, method)
                if problem is not None:
                    problems.add(f"{method} {path} {change}", problem, reproduce)
    print(f"type sweep: {time.monotonic() - started:.1f}s")
    assert not problems.found, "wrong JSON types not refused cleanly:\n" + problems.report()


def test_fuzz_engine_api(fuzz_cluster: Cluster, real_objects: RealObjects) -> None:
    before = fuzz_cluster.status()["components"]
    base_url = fuzz_cluster.docker_host.replace("tcp://", "http://") + "/v1.47"
    problems = Problems()
    started = time.monotonic()
    operations = _operations()
    routed = _routed()
    with requests.Session() as session:
        for operation in operations:
            begun = time.monotonic()
            key = (operation.method.upper(), operation.path)
            examples = EXAMPLES if key in routed else min(EXAMPLES, UNROUTED_EXAMPLES)
            _fuzz_operation(operation, base_url, real_objects, session, problems, examples)
            label = f"{operation.method.upper()} {operation.path}"
            print(f"{label:48} {time.monotonic() - begun:5.1f}s "
                  f"{dict(sorted(problems.statuses[label].items()))}")
    elapsed = time.monotonic() - started
    print(f"fuzzed {len(operations)} operations in {elapsed:.1f}s")
    assert not problems.found, "the fuzz found:\n" + problems.report()
    after = fuzz_cluster.status()["components"]
    restarted = {
        name: (before[name]["pid"], state["pid"])
        for name, state in after.items()
        if state["pid"] != before[name]["pid"] or state["state"] != "running"
    }
    assert not restarted, f"components died during the fuzz: {restarted}"


def test_nothing_half_made(fuzz_cluster: Cluster, busybox_tar: Path) -> None:
    """Every object the fuzz left behind is whole: it lists, inspects and removes."""
    client = fuzz_cluster.client()
    try:
        assert client.ping()
        for container in client.containers.list(all=True):
            inspected = client.api.inspect_container(container.id)
            assert inspected["Id"] == container.id
            assert inspected["State"]["Status"] in {
                "created", "running", "paused", "restarting", "exited", "dead"}
        for network in client.networks.list():
            assert client.api.inspect_network(network.id)["Id"] == network.id
        for volume in client.volumes.list():
            assert client.api.inspect_volume(volume.name)["Name"] == volume.name
        for image in client.images.list(all=True):
            assert client.api.inspect_image(image.id)["Id"] == image.id
        # And each kind still goes away cleanly.
        for container in client.containers.list(all=True):
            container.remove(force=True)
        assert client.containers.list(all=True) == []
        client.containers.prune()
        client.networks.prune()
        client.volumes.prune(filters={"all": True})
        assert {n.name for n in client.networks.list()} == {"bridge", "host", "none"}
        # On the host too: of the links netd made, only the default bridge is left.
        prefix = fuzz_cluster.daemon_json["iptables-chain-prefix"]
        assert owned_links(prefix) == [fuzz_cluster.daemon_json["bridge"]]
        assert client.volumes.list() == []
        # The cluster still runs a container end to end (the fuzz may have
        # removed busybox: import it again rather than let docker-py pull it).
        _import_busybox(fuzz_cluster, busybox_tar)
        output = client.containers.run("busybox", ["echo", "still here"], remove=True)
        assert output == b"still here\n"
    finally:
        client.close()

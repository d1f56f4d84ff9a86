"""``POST /networks/{id}/connect|disconnect`` and rename against fakes: what the record
keeps for a stopped container, what netd changes for a running one, dockerd's errors."""

from __future__ import annotations

import json
from typing import Any

from gateway.backends import Backends
from gateway.containers.records import container_key
from gateway.containers.store import ContainerStore
from services.execd.models import RUNNING, RuntimeState, encode_state, runtime_key
from services.imaged.models import ImageDetails
from services.netd.models import AttachedEndpoint, EndpointRequest, Network, Sandbox
from tests.unit.gateway_fakes import FakeImages, FakeNetworks, FakeStore, fake_backends, make_app
from tests.unit.gateway_fakes import serving as serve

IMAGE_ID = "sha256:" + "cd" * 32
BRIDGE = Network(id="b" * 64, name="bridge", driver="bridge", created="2024-01-01T00:00:00Z")
HOST = Network(id="h" * 64, name="host", driver="host", created="2024-01-01T00:00:00Z")
NONE = Network(id="0" * 64, name="none", driver="null", created="2024-01-01T00:00:00Z")
BACKEND = Network(id="e" * 64, name="backend", driver="bridge", created="2024-01-01T00:00:00Z")

SHARED = ("container sharing network namespace with another container or host cannot be "
          "connected to any other network")


def setup(networks_class: type[FakeNetworks] = FakeNetworks
          ) -> tuple[Backends, FakeStore, FakeNetworks]:
    store = FakeStore()
    backends = fake_backends(store=store)
    images = backends.images
    assert isinstance(images, FakeImages)
    images.images[IMAGE_ID] = ImageDetails(
        id=IMAGE_ID, repo_tags=("busybox:latest",), repo_digests=(), parent="", size=1,
        config={"config": {"Cmd": ["sh"]}}, graph_driver={})
    images.tags["busybox:latest"] = IMAGE_ID
    networks = networks_class()
    for network in (BRIDGE, HOST, NONE, BACKEND):
        networks.networks[network.id] = network
    object.__setattr__(backends, "networks", networks)
    return backends, store, networks


async def create(client: Any, name: str, **host_config: Any) -> str:
    body = {"Image": "busybox", "HostConfig": host_config,
            "NetworkingConfig": {"EndpointsConfig": {}}}
    response = await client.post(f"/containers/create?name={name}", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 201, await response.text()
    container_id: str = (await response.json())["Id"]
    return container_id


async def networks_of(client: Any, name: str) -> dict[str, Any]:
    body = await (await client.get(f"/containers/{name}/json")).json()
    found: dict[str, Any] = body["NetworkSettings"]["Networks"]
    return found


async def connect(client: Any, network: str, body: Any) -> tuple[int, Any]:
    response = await client.post(f"/networks/{network}/connect", data=json.dumps(body))
    text = await response.text()
    return response.status, (json.loads(text) if text else None)


async def disconnect(client: Any, network: str, body: Any) -> tuple[int, Any]:
    response = await client.post(f"/networks/{network}/disconnect", data=json.dumps(body))
    text = await response.text()
    return response.status, (json.loads(text) if text else None)


def run_with_sandbox(store: FakeStore, networks: FakeNetworks, container_id: str) -> None:
    """Make a created container look running on the default bridge."""
    store.values[runtime_key(container_id)] = encode_state(
        RuntimeState(container_id=container_id, status=RUNNING, pid=42))
    networks.sandboxes[container_id] = Sandbox(
        container_id=container_id, netns_path=f"/run/netns/{container_id}", hosts_path="/h",
        hostname_path="/hn", resolv_conf_path="/r", endpoints=(AttachedEndpoint(
            BRIDGE.id, "bridge", "1" * 64, "172.17.0.2", 16, "172.17.0.1",
            "02:42:ac:11:00:02", interface="eth0"),))


# ---- a stopped container: recorded for its next start -----------------------------------


async def test_stopped_container_records_connect_and_disconnect() -> None:
    backends, store, _ = setup()
    async with serve(make_app(backends)) as client:
        container_id = await create(client, "web")
        assert list(await networks_of(client, "web")) == ["bridge"]
        assert await connect(client, "backend", {
            "Container": "web", "EndpointConfig": {"Aliases": ["api"], "IPAddress": "9.9.9.9"},
        }) == (200, None)
        shown = await networks_of(client, "web")
        assert sorted(shown) == ["backend", "bridge"]
        assert shown["backend"]["Aliases"] == ["api"] and shown["backend"]["IPAddress"] == ""
        # The same network again: dockerd records nothing more and says nothing.
        assert await connect(client, "backend", {"Container": "web"}) == (200, None)
        assert (await networks_of(client, "web"))["backend"]["Aliases"] == ["api"]

        assert await disconnect(client, "bridge", {"Container": "web"}) == (200, None)
        assert list(await networks_of(client, "web")) == ["backend"]
        record = await ContainerStore(store).get(container_id)
        assert dict(record.networking_config) == {"backend": {"Aliases": ["api"]}}
        assert await disconnect(client, "bridge", {"Container": container_id[:8]}) == (403, {
            "message": f"container {container_id} is not connected to the network bridge"})


async def test_a_network_removed_since_is_dropped_with_force_only() -> None:
    backends, _, networks = setup()
    async with serve(make_app(backends)) as client:
        await create(client, "web")
        assert (await connect(client, "backend", {"Container": "web"}))[0] == 200
        del networks.networks[BACKEND.id]
        assert await disconnect(client, "backend", {"Container": "web"}) == (
            404, {"message": "network backend not found"})
        assert await disconnect(client, "backend", {"Container": "web", "Force": True}) == (
            200, None)
        assert list(await networks_of(client, "web")) == ["bridge"]


async def test_dockerds_refusals() -> None:
    backends, _, _ = setup()
    async with serve(make_app(backends)) as client:
        await create(client, "plain")
        await create(client, "onhost", NetworkMode="host")
        await create(client, "isolated", NetworkMode="none")
        await create(client, "joined", NetworkMode="container:plain")
        cases = [
            ("backend", {"Container": "nope"}, 404, "No such container: nope"),
            ("nope", {"Container": "plain"}, 404, "network nope not found"),
            ("host", {"Container": "plain"}, 400, "container cannot be disconnected from host "
             "network or connected to host network"),
            ("none", {"Container": "plain"}, 400, "container cannot be connected to multiple "
             "networks with one of the networks in private (none) mode"),
            ("backend", {"Container": "onhost"}, 400, SHARED),
            ("backend", {"Container": "isolated"}, 400, "container cannot be connected to "
             "multiple networks with one of the networks in private (none) mode"),
            ("backend", {"Container": "joined"}, 400, SHARED),
            ("backend", {}, 400, "No container name or ID supplied"),
        ]
        for network, body, status, message in cases:
            assert await connect(client, network, body) == (status, {"message": message}), body
        assert await disconnect(client, "host", {"Container": "onhost"}) == (400, {
            "message": "container cannot be disconnected from host network or connected to "
                       "host network"})


async def test_malformed_bodies_are_400() -> None:
    backends, _, _ = setup()
    async with serve(make_app(backends)) as client:
        await create(client, "web")
        bodies: list[Any] = [
            [], {"Container": 5}, {"Container": "web", "EndpointConfig": "x"},
            {"Container": "web", "EndpointConfig": {"Aliases": "a"}},
            {"Container": "web", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.0.0.300"}}},
        ]
        for body in bodies:
            status, error = await connect(client, "backend", body)
            assert status == 400 and error["message"], body
        bad = await client.post("/networks/backend/connect", data="{")
        assert bad.status == 400
        status, error = await disconnect(client, "bridge", {"Container": "web", "Force": "yes"})
        assert (status, error) == (400, {"message": "invalid Force: expected true or false"})
        assert list(await networks_of(client, "web")) == ["bridge"]


# ---- a running container: netd changes its sandbox ----------------------------------------


async def test_running_container_is_connected_by_netd() -> None:
    backends, store, networks = setup()
    async with serve(make_app(backends)) as client:
        container_id = await create(client, "web")
        run_with_sandbox(store, networks, container_id)
        assert await connect(client, "backend", {
            "Container": "web", "EndpointConfig": {"Aliases": ["api"]}}) == (200, None)
        endpoints = networks.sandboxes[container_id].endpoints
        assert [e.network_name for e in endpoints] == ["bridge", "backend"]
        shown = await networks_of(client, "web")
        assert shown["backend"]["IPAddress"] == "10.9.0.3"
        assert shown["backend"]["Aliases"] == ["api"]
        assert shown["backend"]["NetworkID"] == BACKEND.id
        # Already there: the endpoint exists (dockerd's 403).
        assert await connect(client, "backend", {"Container": "web"}) == (403, {
            "message": "endpoint with name web already exists in network backend"})

        assert await disconnect(client, "bridge", {"Container": "web"}) == (200, None)
        assert [e.network_name for e in networks.sandboxes[container_id].endpoints] == [
            "backend"]
        assert list(await networks_of(client, "web")) == ["backend"]
        record = await ContainerStore(store).get(container_id)
        assert dict(record.networking_config) == {"backend": {"Aliases": ["api"]}}


async def test_running_without_sandbox_is_recorded_for_the_next_start() -> None:
    backends, store, networks = setup()
    async with serve(make_app(backends)) as client:
        container_id = await create(client, "web")
        run_with_sandbox(store, networks, container_id)
        del networks.sandboxes[container_id]  # it has just exited
        assert await connect(client, "backend", {"Container": "web"}) == (200, None)
        record = await ContainerStore(store).get(container_id)
        assert sorted(record.networking_config) == ["backend", "bridge"]


class LosingNetworks(FakeNetworks):
    """netd that connects, while the container record disappears meanwhile."""

    store: FakeStore

    async def connect_container(self, container_id: str, request: EndpointRequest) -> Sandbox:
        sandbox = await super().connect_container(container_id, request)
        del self.store.values[container_key(container_id)]
        return sandbox


async def test_a_connect_the_record_cannot_keep_is_undone_in_netd() -> None:
    backends, store, networks = setup(LosingNetworks)
    assert isinstance(networks, LosingNetworks)
    networks.store = store
    async with serve(make_app(backends)) as client:
        container_id = await create(client, "web")
        run_with_sandbox(store, networks, container_id)
        status, _ = await connect(client, "backend", {"Container": "web"})
        assert status == 404
        assert [e.network_name for e in networks.sandboxes[container_id].endpoints] == [
            "bridge"]


# ---- rename ----------------------------------------------------------------------------


async def test_rename_of_a_running_container_renames_its_dns_names() -> None:
    backends, store, networks = setup()
    async with serve(make_app(backends)) as client:
        container_id = await create(client, "old")
        await create(client, "stopped")
        run_with_sandbox(store, networks, container_id)
        assert (await connect(client, "backend", {"Container": "old"}))[0] == 200
        assert (await client.post("/containers/old/rename?name=new")).status == 204
        shown = await networks_of(client, "new")
        assert shown["backend"]["DNSNames"][0] == "new"
        # A stopped container has no sandbox: nothing to tell netd.
        assert (await client.post("/containers/stopped/rename?name=later")).status == 204


# ---- what create records ---------------------------------------------------------------------


async def test_the_clis_default_network_is_recorded_as_bridge() -> None:
    backends, store, _ = setup()
    async with serve(make_app(backends)) as client:
        body = {"Image": "busybox", "HostConfig": {"NetworkMode": "default"},
                "NetworkingConfig": {"EndpointsConfig": {"default": {}}}}
        response = await client.post("/containers/create?name=web", data=json.dumps(body),
                                     headers={"Content-Type": "application/json"})
        assert response.status == 201
        assert list(await networks_of(client, "web")) == ["bridge"]
        record = await ContainerStore(store).get("web")
        assert dict(record.networking_config) == {"bridge": {}}
        # Without EndpointsConfig the mode's network is recorded, as dockerd's create.
        await create(client, "user", NetworkMode="backend")
        assert dict((await ContainerStore(store).get("user")).networking_config) == {
            "backend": {}}
        await create(client, "alone", NetworkMode="none")
        assert dict((await ContainerStore(store).get("alone")).networking_config) == {}

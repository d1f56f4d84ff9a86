"""Network routes against a fake netd: request parsing, response shapes, errors."""

from __future__ import annotations

import json
from typing import Any

from gateway.network_views import network_json
from services.netd.models import Endpoint, IpamConfig, Network
from tests.unit.gateway_fakes import FakeNetworks, fake_backends, make_app, serving
from tests.unit.spec_schema import validate

NETWORK = Network(
    id="ab" * 32, name="web", driver="bridge", created="2024-01-01T00:00:00.123456789Z",
    ipam_config=(IpamConfig(subnet="10.9.0.0/24", gateway="10.9.0.1", ip_range="10.9.0.0/25"),),
    options={"com.docker.network.bridge.enable_icc": "false"}, labels={"a": "b"},
    endpoints=(Endpoint("c" * 64, "app", "e" * 64, "02:42:0a:09:00:02", "10.9.0.2/24"),),
)


def _backends() -> tuple[Any, FakeNetworks]:
    backends = fake_backends()
    networks = backends.networks
    assert isinstance(networks, FakeNetworks)
    return backends, networks


def test_network_json_matches_the_spec() -> None:
    body = network_json(NETWORK)
    assert validate(body, "Network") == []
    assert body["Containers"] == {"c" * 64: {
        "Name": "app", "EndpointID": "e" * 64, "MacAddress": "02:42:0a:09:00:02",
        "IPv4Address": "10.9.0.2/24", "IPv6Address": ""}}
    assert body["IPAM"]["Config"] == [
        {"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1", "IPRange": "10.9.0.0/25"}]
    assert network_json(NETWORK, with_containers=False)["Containers"] == {}


async def test_create_parses_the_body_and_answers_201() -> None:
    backends, networks = _backends()
    body = {
        "Name": "web", "CheckDuplicate": True, "Internal": True,
        "IPAM": {"Driver": "default", "Config": [
            {"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1", "IPRange": "10.9.0.0/25"}]},
        "Options": {"com.docker.network.bridge.name": "web0"}, "Labels": {"a": "b"},
    }
    async with serving(make_app(backends)) as client:
        response = await client.post("/v1.47/networks/create", data=json.dumps(body))
        assert response.status == 201
        created = await response.json()
    assert validate(created, "NetworkCreateResponse") == []
    spec = networks.created[0]
    assert spec.name == "web" and spec.driver == "bridge" and spec.internal is True
    assert spec.ipam_config == (IpamConfig("10.9.0.0/24", "10.9.0.1", "10.9.0.0/25"),)
    assert spec.options == {"com.docker.network.bridge.name": "web0"}
    assert created["Id"] in networks.networks


async def test_create_refuses_malformed_bodies() -> None:
    backends, _ = _backends()
    async with serving(make_app(backends)) as client:
        for data in ("{", "[]", json.dumps({"Name": "x", "Internal": "yes"}),
                     json.dumps({"Name": "x", "Scope": "swarm"}),
                     json.dumps({"Name": "x", "ConfigOnly": True})):
            response = await client.post("/networks/create", data=data)
            assert response.status == 400, data
            assert (await response.json())["message"]


async def test_duplicate_name_is_409_and_unknown_network_404() -> None:
    backends, _ = _backends()
    async with serving(make_app(backends)) as client:
        assert (await client.post("/networks/create", data='{"Name":"a"}')).status == 201
        again = await client.post("/networks/create", data='{"Name":"a"}')
        assert again.status == 409
        assert (await again.json()) == {"message": "network with name a already exists"}
        missing = await client.get("/networks/nope")
        assert missing.status == 404
        assert (await missing.json()) == {"message": "network nope not found"}
        swarm = await client.get("/networks/a?scope=swarm")
        assert swarm.status == 404


async def test_list_inspect_delete_prune() -> None:
    backends, networks = _backends()
    networks.networks[NETWORK.id] = NETWORK
    async with serving(make_app(backends)) as client:
        listed = await client.get('/networks?filters={"label":["a=b"]}')
        assert listed.status == 200
        body = await listed.json()
        assert [n["Name"] for n in body] == ["web"] and body[0]["Containers"] == {}
        assert networks.filters[-1] == {"label": ("a=b",)}
        inspected = await (await client.get("/networks/web?verbose=1")).json()
        assert inspected["Id"] == NETWORK.id and len(inspected["Containers"]) == 1
        assert (await client.delete("/networks/web")).status == 204
        networks.networks[NETWORK.id] = NETWORK
        pruned = await client.post('/networks/prune?filters={"until":["1h"]}')
        assert await pruned.json() == {"NetworksDeleted": ["web"]}
        assert networks.filters[-1] == {"until": ("1h",)}

"""Answers shaped as dockerd's where clients send what dockerd drops (docker-py's nulls)."""

from __future__ import annotations

from gateway.containers.settings import health_config
from tests.support.spec_responses import check_answer
from tests.unit.gateway_fakes import make_app, serving
from tests.unit.test_gateway_containers import backends, post


def test_health_config_keeps_only_what_go_would_encode_in_its_order() -> None:
    given = {"Retries": 3, "Timeout": None, "StartPeriod": 0, "Interval": 300_000_000,
             "Test": ["CMD", "true"], "StartInterval": None, "Bogus": 1}
    assert list(health_config(given).items()) == [
        ("Test", ["CMD", "true"]), ("Interval", 300_000_000), ("Retries", 3)]
    assert health_config({"Test": [], "Retries": 0}) == {}


async def test_a_docker_py_healthcheck_is_inspected_without_its_nulls() -> None:
    b, _, _ = backends()
    async with serving(make_app(b)) as client:
        check = {"Test": ["CMD", "true"], "Interval": 300_000_000,
                 "Timeout": None, "Retries": 1, "StartPeriod": None}
        response = await post(client, {"Image": "busybox", "Healthcheck": check}, "hc")
        assert response.status == 201
        inspect = await client.get("/v1.47/containers/hc/json")
        raw = await inspect.read()
    body = await inspect.json()
    assert body["Config"]["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 300_000_000,
                                             "Retries": 1}
    assert check_answer("GET", "/v1.47/containers/hc/json", 200,
                        inspect.headers["Content-Type"], raw) == []

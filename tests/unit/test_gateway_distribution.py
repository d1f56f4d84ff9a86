"""Pull, push, /auth and /distribution routes against a fake imaged: Docker's stream and shapes."""

from __future__ import annotations

import base64
import json

from gateway.backends import Backends
from gateway.progress_stream import human_size, progress_bar
from services.common.errors import NotFound, Unauthorized
from services.imaged.registry.models import ProgressEvent, RegistryAuth
from tests.unit.gateway_fakes import FakeDistribution, fake_backends, make_app, serving


def _fake() -> tuple[FakeDistribution, Backends]:
    backends = fake_backends()
    assert isinstance(backends.distribution, FakeDistribution)
    return backends.distribution, backends


def _auth_header(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def test_human_sizes_and_bars_are_go_units_and_jsonmessage() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 32768, 2217111, 10**9)] == [
        "0B", "999B", "1kB", "32.77kB", "2.217MB", "1GB"]
    assert progress_bar(0, 0) == ""
    assert progress_bar(32768, 2217111) == "[" + ">" + " " * 50 + "]  32.77kB/2.217MB"
    half = progress_bar(50, 100)
    assert half == "[" + "=" * 25 + ">" + " " * 25 + "]      50B/100B"
    assert progress_bar(200, 100).endswith("]     200B")
    assert progress_bar(5, 0) == "      5B"


async def test_pull_streams_json_lines_with_crlf_in_dockers_field_order() -> None:
    fake, backends = _fake()
    fake.events = [
        ProgressEvent(status="Pulling from busybox", id="latest"),
        ProgressEvent(status="Pulling fs layer", id="abc", detail=True),
        ProgressEvent(status="Downloading", id="abc", detail=True, current=500, total=1000),
        ProgressEvent(status="Digest: sha256:" + "0" * 64),
    ]
    header = _auth_header({"username": "u", "password": "p", "serveraddress": "r"})
    async with serving(make_app(backends)) as client:
        response = await client.post(
            "/v1.47/images/create?fromImage=127.0.0.1:5000/me/busybox&tag=1&platform=linux/arm64",
            headers={"X-Registry-Auth": header})
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        body = await response.read()
    lines = body.split(b"\r\n")
    assert lines[-1] == b""
    assert lines[0] == b'{"status":"Pulling from busybox","id":"latest"}'
    assert lines[1] == b'{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}'
    assert lines[2] == (b'{"status":"Downloading","progressDetail":{"current":500,"total":1000},'
                        b'"progress":"[=========================>                         ]'
                        b'     500B/1kB","id":"abc"}')
    assert fake.calls == [("pull", ("127.0.0.1:5000/me/busybox", "1", "linux/arm64",
                                    RegistryAuth("u", "p", "r")))]


async def test_pull_failing_before_any_message_is_a_plain_http_error() -> None:
    fake, backends = _fake()
    fake.fail_first = NotFound("manifest for x:latest not found: manifest unknown: "
                               "manifest unknown")
    async with serving(make_app(backends)) as client:
        response = await client.post("/images/create?fromImage=x&tag=latest",
                                     headers={"X-Registry-Auth": "not base64 json!"})
        assert response.status == 404
        assert await response.json() == {"message": fake.fail_first.message}
    # An undecodable header means anonymous access for a pull, as in dockerd.
    assert fake.calls[0][1][3] == RegistryAuth()


async def test_failure_after_the_first_message_stays_inside_the_200() -> None:
    fake, backends = _fake()
    fake.events = [ProgressEvent(status="Pulling from x", id="latest")]
    fake.fail = NotFound("filesystem layer verification failed for digest sha256:00")
    async with serving(make_app(backends)) as client:
        response = await client.post("/images/create?fromImage=x&tag=latest")
        assert response.status == 200
        lines = (await response.read()).split(b"\r\n")
    assert json.loads(lines[1]) == {
        "errorDetail": {"message": fake.fail.message}, "error": fake.fail.message}
    assert lines[1].startswith(b'{"errorDetail"')


async def test_push_route_takes_names_with_slashes_and_the_aux_line() -> None:
    fake, backends = _fake()
    fake.events = [
        ProgressEvent(status="v1: digest: sha256:" + "1" * 64 + " size: 527"),
        ProgressEvent(detail=True, aux=json.dumps({"Tag": "v1", "Digest": "sha256:x",
                                                   "Size": 527})),
    ]
    async with serving(make_app(backends)) as client:
        response = await client.post("/v1.47/images/127.0.0.1:5000/a/b/push?tag=v1",
                                     headers={"X-Registry-Auth": _auth_header({})})
        assert response.status == 200
        lines = (await response.read()).split(b"\r\n")
        bad = await client.post("/images/a/push", headers={"X-Registry-Auth": "%%%"})
        assert bad.status == 400
    assert lines[1] == b'{"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:x","Size":527}}'
    assert fake.calls[0] == ("push", ("127.0.0.1:5000/a/b", "v1", RegistryAuth()))


async def test_auth_answers_login_succeeded_or_401() -> None:
    fake, backends = _fake()
    async with serving(make_app(backends)) as client:
        ok = await client.post("/auth", json={"username": "u", "password": "p",
                                              "serveraddress": "127.0.0.1:5000"})
        assert ok.status == 200
        assert await ok.read() == b'{"IdentityToken":"","Status":"Login Succeeded"}\n'
        fake.login_ok = False
        refused = await client.post("/auth", json={"username": "u", "password": "x"})
        assert refused.status == 401
        assert (await refused.json())["message"].startswith("login attempt to ")
        garbage = await client.post("/auth", data=b"{nope")
        assert garbage.status == 400
    assert fake.calls[0] == ("auth", (RegistryAuth("u", "p", "127.0.0.1:5000"),))


async def test_distribution_json_shape() -> None:
    _, backends = _fake()
    async with serving(make_app(backends)) as client:
        response = await client.get("/v1.47/distribution/127.0.0.1:5000/a/b:1/json")
        assert response.status == 200
        assert await response.json() == {
            "Descriptor": {"mediaType": "application/vnd.oci.image.index.v1+json",
                           "digest": "sha256:" + "ab" * 32, "size": 321},
            "Platforms": [{"architecture": "amd64", "os": "linux"},
                          {"architecture": "arm64", "os": "linux", "variant": "v8"}],
        }


def test_unauthorized_is_a_kind_of_its_own() -> None:
    assert not isinstance(Unauthorized("x"), NotFound)

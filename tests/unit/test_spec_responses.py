"""The checker of answers against the spec's paths: operations, statuses, bodies, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.spec_responses import (
    Operation,
    Problem,
    check_answer,
    find_operation,
    json_values,
)
from tests.unit.spec_schema import STATS_OMITEMPTY, check, response_example, validate_example_shape

JSON = "application/json"


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(("method", "url", "expected"), [
    ("GET", "http+docker://localhost/v1.47/containers/ab12/json?size=1",
     Operation("get", "/containers/{id}/json")),
    ("GET", "/containers/json", Operation("get", "/containers/json")),
    ("GET", "/v1.24/images/json", Operation("get", "/images/json")),
    ("DELETE", "/v1.47/images/127.0.0.1%3A5000/app%3Av1",
     Operation("delete", "/images/{name}")),
    ("GET", "/images/127.0.0.1:5000/a/b:v1/json", Operation("get", "/images/{name}/json")),
    ("GET", "/images/get?names=a", Operation("get", "/images/get")),
    ("GET", "/images/busybox/get", Operation("get", "/images/{name}/get")),
    ("POST", "/networks/create", Operation("post", "/networks/create")),
    ("DELETE", "/networks/ab12", Operation("delete", "/networks/{id}")),
    ("HEAD", "/containers/x/archive", Operation("head", "/containers/{id}/archive")),
])
def test_find_operation_matches_templates_most_literal_first(
        method: str, url: str, expected: Operation) -> None:
    assert find_operation(method, url) == expected


def test_find_operation_of_an_unknown_path_or_method_is_none() -> None:
    assert find_operation("GET", "/containers/x/nosuch") is None
    assert find_operation("PATCH", "/containers/x/json") is None


def test_a_conforming_answer_has_no_problems() -> None:
    answer = body({"Id": "a" * 64, "Warnings": []})
    assert check_answer("POST", "/v1.47/containers/create", 201, JSON, answer) == []


def test_a_wrong_type_and_a_missing_required_field_are_named_with_their_paths() -> None:
    problems = check_answer("POST", "/containers/create", 201, JSON, body({"Id": 5}))
    assert problems == [
        Problem("POST /containers/create -> 201", "$.Id", "int where string is required"),
        Problem("POST /containers/create -> 201", "$", "required property 'Warnings' missing"),
    ]
    assert str(problems[0]) == ("POST /containers/create -> 201: $.Id: "
                                "int where string is required")


def test_inline_schemas_are_checked_and_misspelt_fields_reported() -> None:
    top = {"Titles": ["PID", "CMD"], "Processes": [["1", "sleep"]], "Title": []}
    assert check_answer("GET", "/containers/x/top", 200, JSON, body(top)) == [
        Problem("GET /containers/{id}/top -> 200", "$", "unknown property 'Title'")]
    changes = [{"Path": "/tmp", "Kind": 1}, {"Path": "/x", "Kind": "1"}]
    assert check_answer("GET", "/containers/x/changes", 200, JSON, body(changes)) == [
        Problem("GET /containers/{id}/changes -> 200", "$[1].Kind",
                "str where integer is required")]


def test_go_nil_slices_and_maps_may_be_null_but_plain_fields_may_not() -> None:
    assert check_answer("GET", "/containers/x/changes", 200, JSON, b"null") == []
    network = {"Name": None}
    assert check_answer("GET", "/networks/n", 200, JSON, body(network)) == [
        Problem("GET /networks/{id} -> 200", "$.Name", "null where string is required")]


def test_allof_parts_are_merged_and_the_dockerd_null_allow_list_applies() -> None:
    # HostConfig is allOf [Resources, {...}]: fields of both parts are known and typed.
    assert check({"HostConfig": {"Memory": "1g"}}, {"properties": {
        "HostConfig": {"$ref": "#/definitions/HostConfig"}}}) == [
        "$.HostConfig.Memory: str where integer is required"]
    assert check({"HostConfig": {"NetworkMode": "bridge", "MemorySwappiness": None,
                                 "Nope": 1}},
                 {"properties": {"HostConfig": {"$ref": "#/definitions/HostConfig"}}}) == [
        "$.HostConfig: unknown property 'Nope'"]
    # The allow-list is for dockerd's null only, not for another type.
    assert check({"HostConfig": {"MemorySwappiness": "60"}}, {"properties": {
        "HostConfig": {"$ref": "#/definitions/HostConfig"}}}) == [
        "$.HostConfig.MemorySwappiness: str where integer is required"]


def test_errors_must_be_error_responses_sent_as_json_whatever_the_status() -> None:
    assert check_answer("GET", "/containers/x/json", 404, JSON,
                        body({"message": "No such container: x"})) == []
    # 409 is not listed for pause, but dockerd answers any error kind this way.
    assert check_answer("POST", "/containers/x/pause", 409, JSON,
                        body({"message": "is already paused"})) == []
    assert check_answer("GET", "/containers/x/json", 404, "text/plain; charset=utf-8",
                        b"404: Not Found") == [
        Problem("GET /containers/{id}/json -> 404", "-",
                "Content-Type 'text/plain; charset=utf-8' where application/json is documented"),
    ]
    assert check_answer("GET", "/containers/x/json", 500, JSON, body({"error": "x"})) == [
        Problem("GET /containers/{id}/json -> 500", "$", "unknown property 'error'"),
        Problem("GET /containers/{id}/json -> 500", "$", "required property 'message' missing"),
    ]


def test_an_undocumented_success_status_is_a_problem() -> None:
    assert check_answer("POST", "/containers/x/start", 200, None, b"") == [
        Problem("POST /containers/{id}/start -> 200", "-",
                "status 200 is not documented (only [204, 304, 400, 404, 500])")]


def test_json_bodies_need_a_json_content_type_and_non_json_bodies_are_not_parsed() -> None:
    assert check_answer("GET", "/info", 200, "text/plain", b"{}") == [
        Problem("GET /info -> 200", "-",
                "Content-Type 'text/plain' where application/json is documented")]
    assert check_answer("GET", "/containers/x/logs", 200,
                        "application/vnd.docker.multiplexed-stream", b"\x01\0\0\0") == []
    assert check_answer("GET", "/_ping", 200, "text/plain; charset=utf-8", b"OK") == []
    assert check_answer("GET", "/info", 200, JSON, b"{nope") == [
        Problem("GET /info -> 200", "-",
                "body is not JSON: Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1)")]


def test_streams_check_every_message_and_ignore_an_unread_tail() -> None:
    good = {"Type": "volume", "Action": "create", "Actor": {"ID": "v", "Attributes": {}},
            "scope": "local", "time": 1, "timeNano": 1}
    bad = {**good, "time": "1"}
    stream = body(good) + b"\n" + body(bad) + b"\n" + body(good)[:10]
    assert check_answer("GET", "/events", 200, JSON, stream) == [
        Problem("GET /events -> 200", "[message 1]$.time", "str where integer is required")]


def test_an_empty_stream_is_fine_but_an_empty_single_answer_is_not() -> None:
    assert check_answer("GET", "/events?until=1", 200, JSON, b"") == []
    assert check_answer("GET", "/info", 200, JSON, b"") == [
        Problem("GET /info -> 200", "$", "empty body where JSON is documented")]


def test_json_values_of_one_value_a_stream_and_garbage() -> None:
    assert json_values(b'{"a": 1}') == [{"a": 1}]
    assert json_values(b'{"a":1}\r\n{"a":2}\n') == [{"a": 1}, {"a": 2}]
    assert json_values(b"") == []
    with pytest.raises(ValueError):
        json_values(b'{"a":1}\n}garbage\n{"a":2}')


def test_an_unknown_operation_is_a_problem() -> None:
    assert check_answer("GET", "/v1.47/nosuch", 404, JSON, body({"message": "page not found"})) \
        == [Problem("GET /v1.47/nosuch -> 404", "-", "no such operation in the spec")]


def test_bodies_not_read_are_checked_for_status_only() -> None:
    assert check_answer("GET", "/containers/x/stats", 200, JSON, None) == []
    assert check_answer("HEAD", "/containers/x/archive", 200, None, b"") == []
    assert check_answer("POST", "/containers/x/attach", 101, None, None) == []


def test_the_dockerd_allow_list_is_for_its_places_only() -> None:
    running = {"ID": "e", "Running": True, "ExitCode": None, "ProcessConfig": {}}
    assert check_answer("GET", "/exec/e/json", 200, JSON, body(running)) == []
    # The container's State.ExitCode is an integer always, as dockerd writes it.
    assert check_answer("GET", "/containers/c/json", 200, JSON,
                        body({"State": {"ExitCode": None}})) == [
        Problem("GET /containers/{id}/json -> 200", "$.State.ExitCode",
                "null where integer is required")]
    assert check_answer("POST", "/exec/e/start", 101, None, None) == []
    assert check_answer("POST", "/containers/c/start", 101, None, None)[0].problem == (
        "status 101 is not documented (only [204, 304, 400, 404, 500])")


def test_dockerds_deprecated_event_fields_are_allowed_but_not_others() -> None:
    event = {"Type": "container", "Action": "start", "Actor": {"ID": "c", "Attributes": {}},
             "scope": "local", "time": 1, "timeNano": 1, "status": "start", "id": "c",
             "from": "busybox"}
    assert check_answer("GET", "/events", 200, JSON, body(event)) == []
    assert check_answer("GET", "/events", 200, JSON, body({**event, "Status": "x"})) == [
        Problem("GET /events -> 200", "$", "unknown property 'Status'")]


def test_example_shapes_allow_only_the_named_omitempty_fields_to_be_missing() -> None:
    example = response_example("/containers/{id}/stats")
    message = json.loads(json.dumps(example))
    del message["memory_stats"]["failcnt"], message["cpu_stats"]["cpu_usage"]["percpu_usage"]
    assert validate_example_shape(message, example, optional=STATS_OMITEMPTY) == []
    del message["cpu_stats"]["throttling_data"]
    message["read"] = 5
    assert validate_example_shape(message, example, optional=STATS_OMITEMPTY) == [
        "$.read: int where str is documented", "$.cpu_stats.throttling_data: missing"]


def test_more_than_one_value_is_a_problem_outside_streams() -> None:
    info = body({"ID": "x"})
    assert check_answer("GET", "/info", 200, JSON, info + b"\n" + info) == [
        Problem("GET /info -> 200", "-", "2 JSON values where one is documented")]
    error = body({"message": "x"})
    assert check_answer("GET", "/events", 400, JSON, error + error)[0].problem == \
        "2 JSON values where one is documented"

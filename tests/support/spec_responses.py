"""Check one HTTP answer of the Engine API against the spec's ``paths`` section.

The operation is found from the method and the URL path (``/v1.47/containers/ab12/json``
is ``GET /containers/{id}/json``); the body is checked against the schema the spec
gives for that operation and status (inline or $ref, through tests/unit/spec_schema.py,
which holds the one allow-list of places where dockerd disagrees with its spec).
Errors (4xx/5xx) must be an ``ErrorResponse`` sent as ``application/json``, whatever
the status: dockerd answers every error that way, also with statuses the spec omits.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.unit.spec_schema import DOCKERD_STATUSES, check, paths, resolve

_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")
_ERROR_SCHEMA = {"$ref": "#/definitions/ErrorResponse"}
_METHODS = ("get", "post", "put", "delete", "head")
# Operations whose answer is a stream of JSON values, one after another.
_JSON_STREAMS = frozenset({
    ("get", "/events"), ("get", "/containers/{id}/stats"), ("post", "/images/create"),
    ("post", "/images/load"), ("post", "/images/{name}/push"), ("post", "/build"),
})


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: ``POST /containers/{id}/start``."""

    method: str
    template: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.template}"


@dataclass(frozen=True)
class Problem:
    """One way an answer differs from the spec."""

    operation: str
    """``GET /containers/{id}/json -> 200``, or the request line when no operation matched."""
    where: str
    """A JSON path into the body (``$.State.Health``); ``[message 2]$...`` in a stream."""
    problem: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.where}: {self.problem}"


@dataclass(frozen=True)
class _Template:
    operation: Operation
    pattern: re.Pattern[str]
    literal_segments: int


@functools.cache
def _templates() -> tuple[_Template, ...]:
    """Every operation of the spec, most literal first, so ``/images/json`` beats
    ``/images/{name}``; a ``{name}`` of an image may hold slashes (``localhost:5000/a``)."""
    made: list[_Template] = []
    for template, operations in paths().items():
        segments = template.strip("/").split("/")
        greedy = any(s in ("images", "distribution") for s in segments[:1])
        parts = [
            ("(.+)" if greedy else "([^/]+)") if s.startswith("{") else re.escape(s)
            for s in segments
        ]
        pattern = re.compile("^/" + "/".join(parts) + "$")
        literal = sum(1 for s in segments if not s.startswith("{"))
        for method in operations:
            if method in _METHODS:
                made.append(_Template(Operation(method, template), pattern, literal))
    made.sort(key=lambda t: -t.literal_segments)
    return tuple(made)


def find_operation(method: str, url: str) -> Operation | None:
    """The spec's operation for ``method`` on ``url`` (a full URL or a path, with or
    without the ``/v1.xx`` prefix and query); None when the spec has none."""
    path = _VERSION_PREFIX.sub("", unquote(urlsplit(url).path))
    for template in _templates():
        if template.operation.method == method.lower() and template.pattern.match(path):
            return template.operation
    return None


def json_values(body: bytes) -> list[Any]:
    """The JSON values of ``body``: one, or a stream of them one after another (as
    dockerd's events, stats and progress streams). A cut-off last value (a client
    that stopped reading a stream) is left out; any other garbage raises ValueError."""
    text = body.decode()
    decoder = json.JSONDecoder()
    values: list[Any] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index == len(text):
            return values
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            if "\n" not in text[index:].rstrip("\n") and values:
                return values  # the unfinished tail of a stream read only in part
            raise
        values.append(value)


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


def _schema_of(operation: Operation, status: int) -> tuple[bool, dict[str, Any] | None]:
    """(documented, schema) of ``operation``'s answer with ``status``."""
    responses: dict[int, Any] = paths()[operation.template][operation.method]["responses"]
    if status >= 400:
        return True, _ERROR_SCHEMA
    answer = responses.get(status)
    if answer is None:
        return (operation.method, operation.template, status) in DOCKERD_STATUSES, None
    schema = answer.get("schema")
    if schema is None or resolve(schema).get("type") == "string":
        return True, None  # no body, or a body that is not JSON (logs, tar, "OK")
    return True, schema


def check_answer(
    method: str, url: str, status: int, content_type: str | None, body: bytes | None
) -> list[Problem]:
    """Every way one answer differs from the spec. ``body`` None: not read (HEAD, an
    upgraded or non-JSON stream), so only the operation and status are checked."""
    operation = find_operation(method, url)
    if operation is None:
        request_line = f"{method.upper()} {urlsplit(url).path} -> {status}"
        return [Problem(request_line, "-", "no such operation in the spec")]
    name = f"{operation} -> {status}"
    documented, schema = _schema_of(operation, status)
    if not documented:
        listed = sorted(paths()[operation.template][operation.method]["responses"])
        return [Problem(name, "-", f"status {status} is not documented (only {listed})")]
    if body is None or method.upper() == "HEAD" or status in (101, 204, 304):
        return []
    problems: list[Problem] = []
    if schema is not None and not _is_json(content_type):
        problems.append(Problem(name, "-", f"Content-Type {content_type!r} where "
                                           "application/json is documented"))
    if not _is_json(content_type):
        return problems
    try:
        values = json_values(body)
    except (ValueError, UnicodeDecodeError) as error:
        return [*problems, Problem(name, "-", f"body is not JSON: {error}")]
    streamed = (operation.method, operation.template) in _JSON_STREAMS and status < 400
    if schema is None:
        return problems
    if not values and not streamed:  # a stream may end before its first value
        return [*problems, Problem(name, "$", "empty body where JSON is documented")]
    if len(values) > 1 and not streamed:
        problems.append(Problem(name, "-", f"{len(values)} JSON values where one is documented"))
    for index, value in enumerate(values):
        root = "$" if len(values) == 1 else f"[message {index}]$"
        for text in check(value, schema, root):
            where, _, what = text.partition(": ")
            problems.append(Problem(name, where, what))
    return problems


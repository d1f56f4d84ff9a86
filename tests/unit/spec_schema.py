"""A small validator of JSON answers against the Engine API spec's definitions.

Checks types, properties (unknown ones are errors: they catch misspelt field
names), array items, additionalProperties, enums and $ref. A null is accepted
where the spec says x-nullable and for arrays and objects, which Go's encoder
writes as null when nil (dockerd does, e.g. ``Plugins.Authorization``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

SPEC = Path("/work/shared/docker-api/engine-api-v1.47.yaml")
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float),
}


@functools.cache
def definitions() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC.read_text())
    defs: dict[str, Any] = spec["definitions"]
    return defs


def validate(value: Any, definition: str) -> list[str]:
    """Every mismatch between ``value`` and ``#/definitions/<definition>``."""
    problems: list[str] = []
    _check(value, definitions()[definition], definition, problems)
    return problems


def _check(value: Any, schema: dict[str, Any], where: str, problems: list[str]) -> None:
    if "$ref" in schema:
        schema = definitions()[schema["$ref"].rsplit("/", 1)[1]]
    kind = schema.get("type")
    if value is None:
        if not (schema.get("x-nullable") or kind in ("array", "object") or kind is None):
            problems.append(f"{where}: null where {kind} is required")
        return
    if kind is not None:
        expected = _TYPES[kind]
        if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
            problems.append(f"{where}: {type(value).__name__} where {kind} is required")
            return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], f"{where}.{key}", problems)
            elif isinstance(extra, dict):
                _check(item, extra, f"{where}[{key}]", problems)
            elif properties:
                problems.append(f"{where}: unknown property {key!r}")
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}: required property {key!r} missing")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{where}[{index}]", problems)


@functools.cache
def _paths() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC.read_text())
    paths: dict[str, Any] = spec["paths"]
    return paths


def validate_response(value: Any, path: str, method: str = "get", status: int = 200) -> list[str]:
    """Every mismatch between ``value`` and the response schema of ``method path``.

    For answers whose schema is written inline in the path (``ContainerInspectResponse``).
    """
    schema = _paths()[path][method]["responses"][status]["schema"]
    problems: list[str] = []
    _check(value, schema, f"{method.upper()} {path}", problems)
    return problems


def response_example(path: str, method: str = "get", status: int = 200) -> Any:
    """The documented ``application/json`` example of an answer."""
    return _paths()[path][method]["responses"][status]["examples"]["application/json"]


def validate_example_shape(
    value: Any, example: Any, where: str = "$", maps: frozenset[str] = frozenset()
) -> list[str]:
    """Every key of ``example`` (recursively) that ``value`` lacks or holds with another
    JSON type. For answers the spec only documents by example (``ContainerStats``).

    ``maps`` names the objects keyed by data (``$.networks``): each of their values
    is checked against the example's first one instead.
    """
    problems: list[str] = []
    if isinstance(example, dict) and where in maps:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} where object is documented"]
        first = next(iter(example.values()))
        for key, item in value.items():
            problems += validate_example_shape(item, first, f"{where}[{key}]", maps)
    elif isinstance(example, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} where object is documented"]
        for key, item in example.items():
            if key not in value:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += validate_example_shape(value[key], item, f"{where}.{key}", maps)
    elif isinstance(example, list):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} where array is documented"]
        for i, item in enumerate(value):
            problems += validate_example_shape(item, example[0], f"{where}[{i}]", maps) \
                if example else []
    elif isinstance(example, bool) != isinstance(value, bool) or (
        isinstance(example, (int, float)) != isinstance(value, (int, float))
        or isinstance(example, str) != isinstance(value, str)
    ):
        problems.append(f"{where}: {type(value).__name__} where {type(example).__name__} "
                        "is documented")
    return problems

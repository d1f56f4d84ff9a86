"""A small validator of JSON answers against the Engine API spec's definitions.

Checks types, properties (unknown ones are errors: they catch misspelt field
names), array items, additionalProperties, enums, $ref and allOf. A null is accepted
where the spec says x-nullable and for arrays and objects, which Go's encoder
writes as null when nil (dockerd does, e.g. ``Plugins.Authorization``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

SPEC = Path("/work/shared/docker-api/engine-api-v1.47.yaml")
# The one allow-list of places where dockerd's answers disagree with its own spec;
# Dockyard follows dockerd. Each entry names a place in the spec (its keys from the
# top, as a JSON pointer would) and says why dockerd differs there.
DOCKERD_NULLS: dict[tuple[str | int, ...], str] = {
    # api/types/container.Resources has `MemorySwappiness *int64` without omitempty,
    # and dockerd leaves it nil unless --memory-swappiness is given: `docker inspect`
    # shows "MemorySwappiness": null, while the spec says a plain integer.
    ("definitions", "Resources", "properties", "MemorySwappiness"):
        "dockerd writes null for an unset *int64",
    # backend.ExecInspect has `ExitCode *int`: null until the exec process has exited.
    ("paths", "/exec/{id}/json", "get", "responses", 200, "schema", "properties", "ExitCode"):
        "dockerd writes null while the exec has not exited",
}
DOCKERD_EXTRA_PROPERTIES: dict[tuple[str | int, ...], tuple[frozenset[str], str]] = {
    # events.Message still carries the deprecated `status`, `id` and `from` (omitempty)
    # and dockerd fills them for container and image events before API v1.52; the
    # spec documents only Type/Action/Actor/scope/time/timeNano.
    ("definitions", "EventMessage"):
        (frozenset({"status", "id", "from"}), "dockerd's deprecated event fields"),
}
DOCKERD_STATUSES: dict[tuple[str, str, int], str] = {
    # postContainerExecStart answers "101 UPGRADED" when the client sends `Upgrade: tcp`
    # (docker-py and the CLI do), exactly as attach does; the spec lists only 200.
    ("post", "/exec/{id}/start", 101): "dockerd upgrades the connection when asked to",
}

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float),
}


@functools.cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return spec


def definitions() -> dict[str, Any]:
    defs: dict[str, Any] = _spec()["definitions"]
    return defs


def _at(place: tuple[str | int, ...]) -> Any:
    schema: Any = _spec()
    for key in place:
        schema = schema[key]
    return schema


@functools.cache
def _dockerd_null_schemas() -> frozenset[int]:
    """The ids of the schemas in DOCKERD_NULLS (the spec is loaded once, so ids hold)."""
    return frozenset(id(_at(place)) for place in DOCKERD_NULLS)


@functools.cache
def _dockerd_extra_properties() -> dict[int, frozenset[str]]:
    return {id(_at(place)): names for place, (names, _) in DOCKERD_EXTRA_PROPERTIES.items()}


def validate(value: Any, definition: str) -> list[str]:
    """Every mismatch between ``value`` and ``#/definitions/<definition>``."""
    problems: list[str] = []
    _check(value, definitions()[definition], definition, problems)
    return problems


def check(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Every mismatch between ``value`` and ``schema`` (a spec schema, inline or $ref)."""
    problems: list[str] = []
    _check(value, schema, where, problems)
    return problems


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its $ref followed and its allOf parts merged into one schema."""
    if "$ref" in schema:
        schema = definitions()[schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" not in schema:
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties", {}))
    required: list[str] = list(merged.get("required", []))
    for part in schema["allOf"]:
        flat = resolve(part)
        for key, item in flat.items():
            if key not in ("properties", "required"):
                merged.setdefault(key, item)
        properties.update(flat.get("properties", {}))
        required += flat.get("required", [])
    merged["properties"], merged["required"] = properties, required
    return merged


def _check(value: Any, schema: dict[str, Any], where: str, problems: list[str]) -> None:
    allowed_null = id(schema) in _dockerd_null_schemas()
    allowed_extra = _dockerd_extra_properties().get(id(resolve(schema)), frozenset())
    schema = resolve(schema)
    kind = schema.get("type")
    if value is None:
        if not (schema.get("x-nullable") or kind in ("array", "object") or kind is None
                or allowed_null):
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
            elif properties and key not in allowed_extra:
                problems.append(f"{where}: unknown property {key!r}")
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}: required property {key!r} missing")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{where}[{index}]", problems)


def paths() -> dict[str, Any]:
    found: dict[str, Any] = _spec()["paths"]
    return found


def validate_response(value: Any, path: str, method: str = "get", status: int = 200) -> list[str]:
    """Every mismatch between ``value`` and the response schema of ``method path``.

    For answers whose schema is written inline in the path (``ContainerInspectResponse``).
    """
    schema = paths()[path][method]["responses"][status]["schema"]
    problems: list[str] = []
    _check(value, schema, f"{method.upper()} {path}", problems)
    return problems


def response_example(path: str, method: str = "get", status: int = 200) -> Any:
    """The documented ``application/json`` example of an answer."""
    return paths()[path][method]["responses"][status]["examples"]["application/json"]


# The fields of the stats example that Go's encoder leaves out when zero or nil
# (`omitempty` in api/types/container/stats.go): cgroup v2 has no failcnt, max_usage
# or per-CPU usage, so dockerd omits them there.
STATS_OMITEMPTY = frozenset({
    *(f"$.{cpu}.{field}" for cpu in ("cpu_stats", "precpu_stats")
      for field in ("cpu_usage.percpu_usage", "system_cpu_usage", "online_cpus")),
    *(f"$.memory_stats.{field}" for field in ("usage", "max_usage", "stats", "failcnt", "limit")),
    "$.pids_stats.current", "$.pids_stats.limit", "$.networks",
})


def validate_example_shape(
    value: Any, example: Any, where: str = "$", maps: frozenset[str] = frozenset(),
    optional: frozenset[str] = frozenset(),
) -> list[str]:
    """Every key of ``example`` (recursively) that ``value`` lacks or holds with another
    JSON type. For answers the spec only documents by example (``ContainerStats``).

    ``maps`` names the objects keyed by data (``$.networks``): each of their values
    is checked against the example's first one instead. ``optional`` names the
    places that may be missing (``STATS_OMITEMPTY``).
    """
    problems: list[str] = []
    if isinstance(example, dict) and where in maps:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} where object is documented"]
        first = next(iter(example.values()))
        for key, item in value.items():
            problems += validate_example_shape(item, first, f"{where}[{key}]", maps, optional)
    elif isinstance(example, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} where object is documented"]
        for key, item in example.items():
            if key not in value:
                if f"{where}.{key}" not in optional:
                    problems.append(f"{where}.{key}: missing")
            else:
                problems += validate_example_shape(value[key], item, f"{where}.{key}", maps,
                                                   optional)
    elif isinstance(example, list):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} where array is documented"]
        for i, item in enumerate(value):
            problems += validate_example_shape(item, example[0], f"{where}[{i}]", maps,
                                               optional) if example else []
    elif isinstance(example, bool) != isinstance(value, bool) or (
        isinstance(example, (int, float)) != isinstance(value, (int, float))
        or isinstance(example, str) != isinstance(value, str)
    ):
        problems.append(f"{where}: {type(value).__name__} where {type(example).__name__} "
                        "is documented")
    return problems

"""Request bodies with one field of the wrong JSON type, derived from the spec.

Random generation rarely puts a number where a nested object belongs three
levels down (``NetworkingConfig.EndpointsConfig.<net>.IPAMConfig``); this walks
a body schema and yields, for every field down to :data:`MAX_DEPTH`, a copy of
a valid base body with that field replaced by values of other JSON types.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 4
# A few values of every other JSON type, per declared type; sizes past 64 bits
# for integers (Go's decoder refuses them; protobuf fields cannot hold them).
WRONG_VALUES: dict[str, tuple[Any, ...]] = {
    "object": (5, "text", [1], True),
    "string": (5, {}, ["a"]),
    "array": ("text", {}, 5, [{}]),
    "integer": ("text", 1.5, {}, True, 10**30, -(10**30)),
    "number": ("text", {}, []),
    "boolean": ("text", 5, {}),
}
# Whole bodies that are not objects.
WRONG_BODIES: tuple[Any, ...] = (5, "text", [1], True)

FieldPath = tuple[str | int, ...]


@functools.cache
def load_spec(path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    return spec


def body_schema(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation = spec["paths"][path][method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "body":
            schema: dict[str, Any] = parameter["schema"]
            return schema
    raise KeyError(f"{method} {path} takes no body")


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its $ref followed and allOf parts merged."""
    if "$ref" in schema:
        schema = spec["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for part in schema["allOf"]:
            merged["properties"].update(_resolve(spec, part).get("properties", {}))
        return merged
    return schema


def fields(spec: dict[str, Any], schema: dict[str, Any],
           prefix: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    """(path, declared type) of every field under ``schema``, to :data:`MAX_DEPTH`."""
    schema = _resolve(spec, schema)
    kind = schema.get("type") or ("object" if "properties" in schema else "string")
    if prefix:
        yield prefix, kind
    if len(prefix) >= MAX_DEPTH:
        return
    for name, sub in (schema.get("properties") or {}).items():
        yield from fields(spec, sub, (*prefix, name))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        # A map: one sample key stands for all (a network name, a port …).
        yield from fields(spec, extra, (*prefix, "bridge"))
    if kind == "array" and isinstance(schema.get("items"), dict):
        yield from fields(spec, schema["items"], (*prefix, 0))


def replaced(body: dict[str, Any], path: FieldPath, value: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with ``path`` set to ``value`` (creating the parents)."""
    out = copy.deepcopy(body)
    node: Any = out
    for step, following in itertools.pairwise(path):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(copy.copy(empty))
            if not isinstance(node[step], (dict, list)):
                node[step] = empty
        elif not isinstance(node.get(step), (dict, list)):
            node[step] = empty
        node = node[step]
    last = path[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value
    return out


def wrong_bodies(spec: dict[str, Any], method: str, path: str,
                 base: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(what was changed, body) for every wrong-typed variant of ``base``."""
    for value in WRONG_BODIES:
        yield f"body={value!r}", value
    for field_path, kind in fields(spec, body_schema(spec, method, path)):
        for value in WRONG_VALUES.get(kind, WRONG_VALUES["string"]):
            name = ".".join(str(step) for step in field_path)
            yield f"{name}={value!r}", replaced(base, field_path, value)

"""Output shapes: what data a node's output can hold, as a JSON schema, for design-time checks.

Each node type declares the shape of its output (`NodeType.output_schema`), statically or from
its configuration; validation follows template references such as
`{{ nodes.recipe.output.ingredients }}` through those shapes and reports a field the output
cannot have, before anything runs. A shape is read conservatively: whatever it does not pin
down (no `type`, a `$ref`, an object open to more properties) accepts every path, so a correct
flow never gets a false error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Schema = dict[str, Any]
Segment = str | int

#: Any JSON at all.
ANY: Schema = {}
TEXT: Schema = {"type": "string"}
#: What a node's output is when it failed and its error port was taken.
ERROR_OUTPUT: Schema = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}

JSON_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
# Names a template may read on a value of each type without a key of that name: Jinja falls back
# to the Python attribute (`{{ text.upper() }}`, `{{ data.items() }}`).
_METHODS: dict[str, frozenset[str]] = {
    "object": frozenset(n for n in dir(dict) if not n.startswith("_")),
    "array": frozenset(n for n in dir(list) if not n.startswith("_")),
    "string": frozenset(n for n in dir(str) if not n.startswith("_")),
    "number": frozenset(n for n in dir(float) if not n.startswith("_")),
    "integer": frozenset(n for n in dir(int) if not n.startswith("_")),
    "boolean": frozenset(n for n in dir(int) if not n.startswith("_")),
    "null": frozenset(),
}
_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true/false",
    "null": "nothing (null)",
}


@dataclass(frozen=True)
class ToolShape:
    """What validation knows of a registered tool: its arguments' and its result's schemas."""

    parameters: Schema
    result: Schema


class DesignScope(Protocol):
    """What a node type may ask about the rest of the graph while declaring its shapes."""

    def incoming(self, port: str) -> Schema:
        """Return the shape of the value arriving on one of the node's input ports."""
        ...

    def value(self, template: str) -> Schema:
        """Return the shape of a template's value as `render_value` gives it."""
        ...

    def path(self, path: str) -> Schema:
        """Return the shape at a dotted data path such as nodes.draft.output.title."""
        ...

    def tool(self, name: str) -> ToolShape | None:
        """Return the schemas of the registered tool `name`, or None if there is none."""
        ...

    def names(self) -> dict[str, str]:
        """Return the readable name of each node by id (runs/engine/names.py)."""
        ...


def union(schemas: Iterable[Schema | None]) -> Schema:
    """Return the shape of a value that may be any of `schemas` (None: unknown)."""
    options: list[Schema] = []
    for schema in schemas:
        if schema is None or schema == ANY:
            return ANY
        options.append(schema)
    if not options:
        return ANY
    return options[0] if len(options) == 1 else {"anyOf": options}


def closed_object(properties: dict[str, Schema], required: Sequence[str] = ()) -> Schema:
    """Return the shape of an object with exactly these fields."""
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def types_of(schema: Schema) -> frozenset[str] | None:
    """Return the JSON types a value of this shape may have, or None when it may be anything."""
    if not isinstance(schema, dict):
        return None
    alternatives = _alternatives(schema)
    if alternatives is not None:
        found: set[str] = set()
        for option in alternatives:
            option_types = types_of(option)
            if option_types is None:
                return None
            found |= option_types
        return frozenset(found)
    declared = schema.get("type")
    if isinstance(declared, str):
        declared = [declared]
    if isinstance(declared, list) and all(t in JSON_TYPES for t in declared):
        kinds = set(declared)
        if "number" in kinds:
            kinds.add("integer")
        return frozenset(kinds)
    if "const" in schema or isinstance(schema.get("enum"), list):
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return frozenset(_type_of(value) for value in values)
    if "properties" in schema and "$ref" not in schema:
        return frozenset({"object"})
    return None


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _alternatives(schema: Schema) -> list[Schema] | None:
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if isinstance(options, list) and options and "type" not in schema:
            return [o for o in options if isinstance(o, dict)]
    return None


def describe(schema: Schema) -> str:
    """Say in words what a value of this shape is: "text", "a list", "an object"."""
    kinds = types_of(schema)
    if kinds is None:
        return "any value"
    if kinds >= {"number", "integer"}:
        kinds = kinds - {"integer"}
    return " or ".join(_NAMES[kind] for kind in JSON_TYPES if kind in kinds)


def field_names(schema: Schema) -> list[str]:
    """Return the fields an object of this shape is declared to have (every alternative's)."""
    names: dict[str, None] = {}
    for option in _alternatives(schema) or [schema]:
        properties = option.get("properties") if isinstance(option, dict) else None
        if isinstance(properties, dict):
            names.update(dict.fromkeys(properties))
    return list(names)


@dataclass(frozen=True)
class Miss:
    """Why a path can't be read from a shape: the segment that fails and what was there."""

    index: int
    found: Schema


def read(schema: Schema, path: Sequence[Segment]) -> Schema | Miss:
    """Return the shape at `path` inside `schema`, or a Miss when no value of it has that path."""
    current = schema
    for index, segment in enumerate(path):
        step = _step(current, segment)
        if step is None:
            return Miss(index, current)
        current = step
    return current


def _step(schema: Schema, segment: Segment) -> Schema | None:
    """Return the shape one segment down, ANY when unknown, None when impossible."""
    if not isinstance(schema, dict):
        return ANY
    alternatives = _alternatives(schema)
    if alternatives is not None:
        found = [s for s in (_step(option, segment) for option in alternatives) if s is not None]
        return union(found) if found else None
    kinds = types_of(schema)
    if kinds is None:
        return ANY
    if isinstance(segment, str) and any(segment in _METHODS[kind] for kind in kinds):
        return ANY  # a method such as `.items()` or `.upper()`
    found: list[Schema] = []
    if "object" in kinds:
        item = _property(schema, segment)
        if item is not None:
            found.append(item)
    if "array" in kinds and (isinstance(segment, int) or str(segment).lstrip("-").isdigit()):
        items = schema.get("items")
        found.append(items if isinstance(items, dict) else ANY)
    if "string" in kinds and isinstance(segment, int):
        found.append(TEXT)
    return union(found) if found else None


def _property(schema: Schema, segment: Segment) -> Schema | None:
    properties = schema.get("properties")
    key = str(segment)
    if isinstance(properties, dict) and key in properties:
        value = properties[key]
        return value if isinstance(value, dict) else ANY
    # Listed properties close the object unless it explicitly allows more (as the Input's).
    extra = schema.get("additionalProperties")
    if not isinstance(properties, dict) or extra not in (None, False):
        return extra if isinstance(extra, dict) else ANY
    return None


def accepts(expected: Schema, actual: Schema) -> bool:
    """Return False only when no value of shape `actual` can have a type `expected` allows."""
    wanted, given = types_of(expected), types_of(actual)
    if wanted is None or given is None:
        return True
    if "number" in wanted:
        wanted = wanted | {"integer"}
    return bool(wanted & given)


def show_path(path: Sequence[Segment]) -> str:
    """Write a path as a template would: output.items[0].name."""
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
    return text.lstrip(".")

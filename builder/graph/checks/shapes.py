"""Output shapes along the graph: what each node's output can hold, computed in run order.

Each node type declares its output's shape (`NodeType.output_schema`), some from what arrives
on their input ports (an Output passing its value through, an Approval showing upstream data);
so the shapes are computed once, sources first, each edge read once. Whatever is not known (an
unknown type, an invalid config, a node inside an unbounded loop) is "any value", which every
check accepts: a shape never makes a correct flow fail validation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from typing import TYPE_CHECKING

from runs.engine.names import readable_names
from runs.engine.shapes import (
    ANY,
    TEXT,
    Miss,
    Schema,
    ToolShape,
    accepts,
    closed_object,
    describe,
    read,
    union,
)
from runs.engine.templates import path_parts
from runs.tools import registry

if TYPE_CHECKING:
    from ..topology import Ancestry
    from .graph import GraphChecker

# A template that is exactly one data path keeps the value's own type (`render_value`).
_ONE_PATH = re.compile(r"\{\{\s*((?:nodes|inputs)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}", re.ASCII)
_STATUS = {"type": "string", "enum": ["pending", "succeeded", "skipped"]}


@lru_cache(maxsize=64)
def _tool(name: str) -> ToolShape | None:
    if name not in registry:
        return None
    tool = registry.get(name)
    return ToolShape(parameters=tool.parameters, result=tool.result_schema)


def tool_shape(name: str) -> ToolShape | None:
    """Return what validation knows of the registered tool `name` (None: no such tool)."""
    return _tool(name) if isinstance(name, str) else None


class OutputShapes:
    """The shape of every node's output, and the port type checks (E024) that use them."""

    def __init__(self, checker: GraphChecker, ancestry: Ancestry, retry_edges: set[str]):
        self.checker = checker
        self.of: dict[str, Schema] = {}
        self._entries: dict[str, Schema] = {}
        self._names: dict[str, str] | None = None
        # The nodes whose references are checked: those the run reaches (all, without an Input).
        self.checked = checker.reached if checker.reached is not None else set(checker.nodes)
        self.into: dict[tuple[str, str], list[str]] = defaultdict(list)
        for edge in checker.edges:
            if edge.id not in retry_edges:
                self.into[(edge.target, edge.target_port)].append(edge.source)
        self.inputs: Schema = ANY
        self._compute(ancestry)

    def _compute(self, ancestry: Ancestry) -> None:
        checker = self.checker
        # Tarjan lists components sinks first: reversed, every node comes after its sources.
        for component in reversed(ancestry.components):
            for node_id in component:
                config = checker.configs.get(node_id)
                if config is None:
                    continue
                node_type = checker.types[node_id]
                shape = node_type.output_schema(config, self.scope(node_id))
                self.of[node_id] = shape if isinstance(shape, dict) else ANY
                if node_type.provides_inputs and self.inputs is ANY:
                    self.inputs = self.of[node_id]

    def names(self) -> dict[str, str]:
        """Readable node names, as the run computes them (built on first use)."""
        if self._names is None:
            nodes = self.checker.nodes.values()
            self._names = readable_names((n.id, n.key, n.label) for n in nodes)
        return self._names

    def scope(self, node_id: str) -> NodeScope:
        return NodeScope(self, node_id)

    def entry(self, node_id: str) -> Schema:
        """Return the shape of `nodes.<name>` for a node: its output and its status."""
        entry = self._entries.get(node_id)
        if entry is None:
            output = self.of.get(node_id, ANY)
            entry = closed_object({"output": output, "status": _STATUS})
            self._entries[node_id] = entry
        return entry

    def incoming(self, node_id: str, port: str) -> Schema:
        sources = self.into.get((node_id, port))
        if not sources:
            return ANY
        shapes = [self.of.get(source, ANY) for source in sources]
        if len(shapes) == 1:
            return shapes[0]
        # Several edges taken at once deliver a list of their values.
        return union([*shapes, {"type": "array", "items": union(shapes)}])

    def check_ports(self) -> None:
        """Report edges whose value can never be what the node at their end needs (E024)."""
        checker = self.checker
        wanted: dict[str, dict[str, Schema]] = {}
        for edge in checker.edges:
            config = checker.configs.get(edge.target)
            if config is None or edge.target not in self.checked:
                continue
            needs = wanted.get(edge.target)
            if needs is None:
                needs = wanted[edge.target] = checker.types[edge.target].input_schemas(config)
            expected = needs.get(edge.target_port)
            if not expected:
                continue
            actual = self.of.get(edge.source, ANY)
            if not accepts(expected, actual):
                checker.add(
                    "graph.E024",
                    f'"{checker.title(edge.target)}" needs {describe(expected)} here, but '
                    f'"{checker.title(edge.source)}" gives {describe(actual)}.',
                    edge_id=edge.id,
                    node_id=edge.target,
                    field=edge.target_port,
                )


class NodeScope:
    """The DesignScope one node type sees while declaring its shapes."""

    def __init__(self, shapes: OutputShapes, node_id: str):
        self._shapes = shapes
        self._node_id = node_id

    def incoming(self, port: str) -> Schema:
        return self._shapes.incoming(self._node_id, port)

    def value(self, template: str) -> Schema:
        stripped = template.strip()
        if not (stripped.startswith("{{") and stripped.endswith("}}")):
            return TEXT
        if stripped.count("{{") != 1:
            return TEXT  # text around several expressions renders as text
        match = _ONE_PATH.fullmatch(stripped)
        return self.path(match[1]) if match else ANY

    def path(self, path: str) -> Schema:
        parts: list[str | int] = list(path_parts(path))
        if not parts:
            return ANY
        root = parts[0]
        if root == "nodes" and len(parts) >= 2:
            source = self._shapes.checker.named.get(str(parts[1]))
            if source is None:
                return ANY
            found = read(self._shapes.entry(source), parts[2:])
        elif root == "inputs":
            found = read(self._shapes.inputs, parts[1:])
        elif root == "feedback":
            return TEXT
        elif root == "iteration":
            return {"type": "integer"}
        else:
            return ANY
        return ANY if isinstance(found, Miss) else found

    def tool(self, name: str) -> ToolShape | None:
        return tool_shape(name)

    def names(self) -> dict[str, str]:
        return self._shapes.names()

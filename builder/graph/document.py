"""The graph document: its schema, limits, error codes and what makes it storable JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1
MAX_NODES = 2_000
MAX_EDGES = 5_000
MAX_NODE_CONFIG_BYTES = 256 * 1024
MAX_GRAPH_BYTES = 5 * 1024 * 1024
MAX_GRAPH_DEPTH = 32
NODE_ID = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"

# code: short title. The title documents the code; messages carry the specifics.
ERROR_CODES: dict[str, str] = {
    "graph.E001": "Malformed graph document",
    "graph.E002": "Unknown node type",
    "graph.E003": "Invalid node configuration",
    "graph.E004": "Duplicate node id",
    "graph.E005": "Duplicate edge id",
    "graph.E006": "Edge points to a missing node",
    "graph.E007": "Edge uses a port the node does not have",
    "graph.E008": "No input node",
    "graph.E009": "No output node",
    "graph.E010": "Node unreachable from the input",
    "graph.E011": "Cycle without an evaluator retry",
    "graph.E012": "Router route has no outgoing edge",
    "graph.E013": "Required input port not connected",
    "graph.E014": "Template or field refers to unknown data",
    "graph.E015": "Too many nodes",
    "graph.E016": "Too many edges",
    "graph.E017": "Node configuration too large",
    "graph.E018": "Graph document too large",
    "graph.E019": "More than one input node",
    "graph.E020": "Template syntax error",
}


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    x: float = 0
    y: float = 0


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(..., pattern=NODE_ID)
    type: str = Field(..., min_length=1, max_length=64)
    label: str = Field("", max_length=200)
    position: Position = Field(default_factory=Position)
    config: dict[str, Any] = Field(default_factory=dict)


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(..., min_length=1, max_length=128)
    source: str = Field(..., min_length=1, max_length=64)
    source_port: str = Field("out", min_length=1, max_length=64)
    target: str = Field(..., min_length=1, max_length=64)
    target_port: str = Field("in", min_length=1, max_length=64)


class Graph(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    schema_version: int = SCHEMA_VERSION
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)


@dataclass(frozen=True)
class GraphError:
    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def empty_graph() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "nodes": [], "edges": []}


def graph_size(document: Any) -> int:
    """Return the size of the document as compact JSON, in bytes."""
    return len(json.dumps(document, separators=(",", ":"), default=str).encode())


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode (no lone surrogates)"
    return None


def json_problem(value: Any, *, max_depth: int) -> str | None:
    """Return why `value` is not plain, storable JSON data, or None if it is.

    Storable means: dicts with text keys, lists, text, finite numbers, booleans and null, nested
    at most `max_depth` levels, with no NUL characters or lone surrogates (PostgreSQL refuses
    both). The walk is iterative, so hostile nesting cannot exhaust the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
        elif isinstance(item, bool) or item is None or isinstance(item, int):
            problem = None
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else "numbers must be finite (no NaN/Infinity)"
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                return f"data is nested more than {max_depth} levels deep"
            if isinstance(item, dict):
                for key in item:
                    problem = "keys must be text" if not isinstance(key, str) else None
                    problem = problem or _text_problem(key)
                    if problem:
                        return problem
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
            problem = None
        else:
            problem = f"{type(item).__name__} is not a JSON value"
        if problem:
            return problem
    return None


def parse_graph(document: Any) -> tuple[Graph | None, list[GraphError]]:
    if not isinstance(document, dict):
        return None, [GraphError("graph.E001", "The graph must be a JSON object.")]
    version = document.get("schema_version", SCHEMA_VERSION)
    if type(version) is not int or version != SCHEMA_VERSION:
        return None, [
            GraphError(
                "graph.E001",
                f"Unsupported schema_version; expected {SCHEMA_VERSION}.",
                field="schema_version",
            )
        ]
    try:
        return Graph.model_validate(document), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors()[:50]:
            loc = err["loc"]
            node_id = edge_id = None
            if len(loc) >= 2 and loc[0] in ("nodes", "edges") and isinstance(loc[1], int):
                item = document[loc[0]][loc[1]]
                item_id = item.get("id") if isinstance(item, dict) else None
                item_id = item_id if isinstance(item_id, str) else None
                node_id, edge_id = (item_id, None) if loc[0] == "nodes" else (None, item_id)
            where = ".".join(str(part) for part in loc)
            errors.append(
                GraphError(
                    "graph.E001", f"{where}: {err['msg']}", node_id, edge_id, field=where or None
                )
            )
        return None, errors


def limit_errors(document: dict[str, Any]) -> list[GraphError]:
    errors = []
    nodes, edges = document.get("nodes"), document.get("edges")
    if isinstance(nodes, list) and len(nodes) > MAX_NODES:
        errors.append(GraphError("graph.E015", f"{len(nodes)} nodes; the limit is {MAX_NODES}."))
    if isinstance(edges, list) and len(edges) > MAX_EDGES:
        errors.append(GraphError("graph.E016", f"{len(edges)} edges; the limit is {MAX_EDGES}."))
    return errors

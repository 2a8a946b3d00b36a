"""The graph document: its schema, limits, error codes and what makes it storable JSON."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1
MAX_NODES = 2_000
MAX_EDGES = 5_000
MAX_NODE_CONFIG_BYTES = 256 * 1024
MAX_GRAPH_BYTES = 5 * 1024 * 1024
MAX_GRAPH_DEPTH = 32
NODE_ID = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# A node's key: the readable name templates may use instead of its id (`nodes.<key>.output`).
NODE_KEY = r"^(?:[a-z_][a-z0-9_]{0,63})?$"
# A node's parent: a map node's id, or empty.
NODE_PARENT = r"^(?:[A-Za-z_][A-Za-z0-9_]{0,63})?$"

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
    "graph.E021": "JSON schema $ref points outside the schema",
    "graph.E022": "Reads a field the upstream output cannot have",
    "graph.E023": "Value of the wrong type for where it is used",
    "graph.E024": "Edge carries a value the port cannot take",
    "graph.E025": "Node reference name already used",
    "graph.E026": "Template names a credential the workspace does not have",
    "graph.E027": "Credentials used outside a Tool node",
    "graph.E028": "Credential transformed instead of inserted as it is",
    "graph.E030": "Error port on a node that cannot fail",
    "graph.E031": "Error branch chosen but not connected",
    "graph.E032": "On-failure policy on a node that cannot fail",
    "graph.E040": "Sub-flow calls a flow that does not exist",
    "graph.E041": "Sub-flow calls a flow of another workspace",
    "graph.E042": "Sub-flow calls a flow that is not published",
    "graph.E043": "Sub-flows call each other in a cycle",
    "graph.E044": "Flow tool named like another tool of the node",
    # E065+: map nodes.
    "graph.E065": "Map has no list of items",
    "graph.E066": "Map runs more items at once than allowed",
    "graph.E067": "Map sends items to an input the called flow does not have",
    "graph.E068": "Map gives the item's input a second value",
    # E050+: automatic model routing.
    "graph.E050": "Model is auto but the workspace has no model to choose from",
    "graph.E051": "Candidate model not in the workspace's catalogue",
    "graph.E052": "Highest tier is below every candidate model",
    # E070+: the agent node.
    "graph.E070": "Agent tool is not a registered tool",
    "graph.E071": "Agent tool named like its knowledge-base search",
    "graph.E072": "Agent reflection by rules without any rule",
    "graph.E073": "Agent checks set but reflection is not by rules",
    # E075+: caching.
    "graph.E075": "Semantic cache on a node whose tools have side effects",
    # E076+: tasks for a person expiring and reminding.
    "graph.E076": "Task expiry or reminder set but no person is asked",
    "graph.E077": "Reminder set after the task or approval expires",
    "graph.E078": "Expired task takes the Error port but nothing is connected to it",
    # E080+: conversations and memory.
    "graph.E080": "Memory summary takes more than half of the token budget",
    # E090+: map regions (nodes drawn inside a map).
    "graph.E090": "Map has no steps inside it and calls no flow",
    "graph.E091": "Map has steps inside it and also calls a flow",
    "graph.E092": "Edge crosses the border of a map",
    "graph.E093": "Steps inside a map do not start from one step",
    "graph.E094": "Steps inside a map end in more than one step and have no Output",
    "graph.E095": "Node placed inside something that is not a map",
    "graph.E096": "Input node inside a map",
}

# Warnings: what validation notices without refusing the graph. A warned graph saves, publishes
# and runs; the step concerned fails when it runs unless the workspace changes first. Codes never
# change meaning once published, like the errors'.
WARNING_CODES: dict[str, str] = {
    "graph.W001": "Knowledge base not in the workspace",
}

# Codes about the flows sub-flow nodes call: they need the workspace's flows, so
# `builder.subflows` reports them (through `flow_validate`), not `validate_graph`.
SUBFLOW_CODES = frozenset({"graph.E040", "graph.E041", "graph.E042", "graph.E043"})
# Codes about map nodes: they need the installation's limits and the called flow's inputs, so
# `builder.maps` reports them (through `flow_validate`) too.
MAP_CODES = frozenset({"graph.E065", "graph.E066", "graph.E067", "graph.E068"})


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    x: float = 0
    y: float = 0


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(..., pattern=NODE_ID)
    type: str = Field(..., min_length=1, max_length=64)
    label: str = Field("", max_length=200)
    key: str = Field("", pattern=NODE_KEY)
    # The map node whose region holds this node (drawn inside it); empty: the flow itself.
    parent: str = Field("", pattern=NODE_PARENT)
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


class GraphNode(NamedTuple):
    """A node of a parsed graph, as the checks read it."""

    id: str
    type: str
    label: str
    config: dict[str, Any]
    key: str = ""
    parent: str = ""


class GraphEdge(NamedTuple):
    """An edge of a parsed graph, as the checks read it."""

    id: str
    source: str
    source_port: str
    target: str
    target_port: str


class ParsedGraph(NamedTuple):
    nodes: list[GraphNode]
    edges: list[GraphEdge]


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


# One encoder for every size check: json.dumps would build a new one per call. Its output is
# ASCII (ensure_ascii), so its length is its size in bytes.
_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str)


def graph_size(document: Any) -> int:
    """Return the size of the document as compact JSON, in bytes."""
    return len(_COMPACT.encode(document))


def _texts_problem(texts: list[str]) -> str | None:
    joined = "".join(texts)
    if "\x00" in joined:
        return "text must not contain NUL characters"
    if not joined.isascii():
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            return "text must be valid Unicode (no lone surrogates)"
    return None


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite (no NaN/Infinity)"
    if isinstance(value, (bool, int)) or value is None:
        return None
    return f"{type(value).__name__} is not a JSON value"


def json_problem(value: Any, *, max_depth: int) -> str | None:
    """Return why `value` is not plain, storable JSON data, or None if it is.

    Storable means: dicts with text keys, lists, text, finite numbers, booleans and null, nested
    at most `max_depth` levels, with no NUL characters or lone surrogates (PostgreSQL refuses
    both). The walk is iterative, so hostile nesting cannot exhaust the stack; only containers go
    on its stack, and the text is checked in one piece at the end.
    """
    texts: list[str] = []
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                return f"data is nested more than {max_depth} levels deep"
            for key in item:
                if not isinstance(key, str):
                    return "keys must be text"
            texts.extend(item)
            children: Any = item.values()
        elif isinstance(item, list):
            if depth > max_depth:
                return f"data is nested more than {max_depth} levels deep"
            children = item
        elif isinstance(item, str):
            texts.append(item)
            continue
        else:
            if problem := _scalar_problem(item):
                return problem
            continue
        for child in children:
            kind = type(child)
            if kind is str:
                texts.append(child)
            elif kind is not int and kind is not bool and child is not None:
                stack.append((child, depth + 1))  # containers, floats and anything unusual
    return _texts_problem(texts)


def parse_graph(document: Any) -> tuple[ParsedGraph | None, list[GraphError]]:
    """Read the document into nodes and edges, or return why its shape is wrong (E001)."""
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
    read = read_plain_graph(document)
    if read is not None:
        return read, []
    try:
        graph = Graph.model_validate(document)
    except ValidationError as exc:
        return None, _shape_errors(document, exc)
    nodes = [GraphNode(n.id, n.type, n.label, n.config, n.key, n.parent) for n in graph.nodes]
    edges = [GraphEdge(*(getattr(e, name) for name in GraphEdge._fields)) for e in graph.edges]
    return ParsedGraph(nodes, edges), []


def _shape_errors(document: dict[str, Any], exc: ValidationError) -> list[GraphError]:
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
    return errors


# The plain reader below accepts a subset of what the pydantic models accept (exact built-in
# types, no coercion) and reads it the same way; anything else goes to the models, which also
# explain what is wrong. It exists because building thousands of models per validation costs
# more in allocation and garbage collection than every check together.
_NODE_KEYS = frozenset(Node.model_fields)
_EDGE_KEYS = frozenset(Edge.model_fields)
_GRAPH_KEYS = frozenset(Graph.model_fields)
_NODE_ID = re.compile(NODE_ID.removeprefix("^").removesuffix("$"))
_NODE_KEY = re.compile(NODE_KEY.removeprefix("^").removesuffix("$"))
_EXACT_FLOAT = 2**53


def _text(value: Any, longest: int, shortest: int = 1) -> TypeGuard[str]:
    return type(value) is str and shortest <= len(value) <= longest


def _coordinate(value: Any) -> bool:
    kind = type(value)
    return kind is float or (kind is int and -_EXACT_FLOAT <= value <= _EXACT_FLOAT)


def _plain_node(item: Any) -> GraphNode | None:
    if type(item) is not dict or not _NODE_KEYS.issuperset(item):
        return None
    fields: dict[str, Any] = item
    node_id, node_type = fields.get("id"), fields.get("type")
    label, config = fields.get("label", ""), fields.get("config", {})
    position, key = fields.get("position", {}), fields.get("key", "")
    parent = fields.get("parent", "")
    if not (
        type(node_id) is str
        and _NODE_ID.fullmatch(node_id)
        and _text(node_type, 64)
        and _text(label, 200, 0)
        and _text(key, 64, 0)
        and _NODE_KEY.fullmatch(key)
        and _text(parent, 64, 0)
        and (not parent or _NODE_ID.fullmatch(parent))
        and type(config) is dict
        and type(position) is dict
        and len(position) <= 2
        and all(key in ("x", "y") and _coordinate(v) for key, v in position.items())
    ):
        return None
    return GraphNode(node_id, node_type, label, config, key, parent)


def _plain_edge(item: Any) -> GraphEdge | None:
    if type(item) is not dict or not _EDGE_KEYS.issuperset(item):
        return None
    fields: dict[str, Any] = item
    edge = GraphEdge(
        fields.get("id"),  # type: ignore[arg-type]  # checked just below
        fields.get("source"),  # type: ignore[arg-type]
        fields.get("source_port", "out"),
        fields.get("target"),  # type: ignore[arg-type]
        fields.get("target_port", "in"),
    )
    if not (_text(edge.id, 128) and all(_text(value, 64) for value in edge[1:])):
        return None
    return edge


def read_plain_graph(document: dict[str, Any]) -> ParsedGraph | None:
    """Read a document made of exactly the schema's built-in types, or return None."""
    nodes, edges = document.get("nodes", []), document.get("edges", [])
    if not _GRAPH_KEYS.issuperset(document) or type(nodes) is not list or type(edges) is not list:
        return None
    parsed_nodes = [_plain_node(item) for item in nodes]
    parsed_edges = [_plain_edge(item) for item in edges]
    if None in parsed_nodes or None in parsed_edges:
        return None
    return ParsedGraph(parsed_nodes, parsed_edges)  # type: ignore[arg-type]


def limit_errors(document: dict[str, Any]) -> list[GraphError]:
    errors = []
    nodes, edges = document.get("nodes"), document.get("edges")
    if isinstance(nodes, list) and len(nodes) > MAX_NODES:
        errors.append(GraphError("graph.E015", f"{len(nodes)} nodes; the limit is {MAX_NODES}."))
    if isinstance(edges, list) and len(edges) > MAX_EDGES:
        errors.append(GraphError("graph.E016", f"{len(edges)} edges; the limit is {MAX_EDGES}."))
    return errors

"""The flow graph document and its validation.

`validate_graph` returns every problem at once, each with a stable code and the node or edge it
belongs to, so the canvas can mark them. Codes never change meaning once published.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runs.engine.nodes import NODE_TYPES, NodeConfig, NodeType
from runs.engine.templates import TEMPLATE_ROOTS, path_parts, references

SCHEMA_VERSION = 1
MAX_NODES = 2_000
MAX_EDGES = 5_000
MAX_NODE_CONFIG_BYTES = 256 * 1024
MAX_GRAPH_BYTES = 5 * 1024 * 1024
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
    model_config = ConfigDict(extra="forbid")
    x: float = 0
    y: float = 0


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(..., pattern=NODE_ID)
    type: str = Field(..., min_length=1, max_length=64)
    label: str = Field("", max_length=200)
    position: Position = Field(default_factory=Position)
    config: dict[str, Any] = Field(default_factory=dict)


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(..., min_length=1, max_length=128)
    source: str = Field(..., min_length=1, max_length=64)
    source_port: str = Field("out", min_length=1, max_length=64)
    target: str = Field(..., min_length=1, max_length=64)
    target_port: str = Field("in", min_length=1, max_length=64)


class Graph(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
    return len(json.dumps(document, separators=(",", ":"), default=str).encode())


def _parse(document: Any) -> tuple[Graph | None, list[GraphError]]:
    if not isinstance(document, dict):
        return None, [GraphError("graph.E001", "The graph must be a JSON object.")]
    if document.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        return None, [
            GraphError("graph.E001", f"Unsupported schema_version; expected {SCHEMA_VERSION}.")
        ]
    try:
        return Graph.model_validate(document), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors()[:50]:
            loc = err["loc"]
            node_id = edge_id = None
            if len(loc) >= 2 and loc[0] in ("nodes", "edges") and isinstance(loc[1], int):
                items = document.get(loc[0]) or []
                item = items[loc[1]] if loc[1] < len(items) else None
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


def _config_errors(node: Node, node_type: type[NodeType]) -> tuple[NodeConfig | None, list]:
    try:
        return node_type.Config.model_validate(node.config), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors()[:20]:
            where = ".".join(str(part) for part in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            text = f"{where}: {message}" if where else message
            errors.append(GraphError("graph.E003", text, node_id=node.id, field=where or None))
        return None, errors


class _Checker:
    """Holds one graph's indexes while the checks run."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.errors: list[GraphError] = []
        self.nodes: dict[str, Node] = {}
        self.types: dict[str, type[NodeType]] = {}
        self.configs: dict[str, NodeConfig] = {}
        self.edges: list[Edge] = []

    def add(self, code: str, message: str, **where: Any) -> None:
        self.errors.append(GraphError(code, message, **where))

    def run(self) -> list[GraphError]:
        self.check_limits()
        self.check_nodes()
        self.check_edges()
        self.check_endpoints()
        retry_edges = self.retry_candidates()
        self.check_cycles(retry_edges)
        self.check_reachable()
        self.check_ports_connected()
        self.check_references(retry_edges)
        return self.errors

    def check_limits(self) -> None:
        if len(self.graph.nodes) > MAX_NODES:
            self.add("graph.E015", f"{len(self.graph.nodes)} nodes; the limit is {MAX_NODES}.")
        if len(self.graph.edges) > MAX_EDGES:
            self.add("graph.E016", f"{len(self.graph.edges)} edges; the limit is {MAX_EDGES}.")

    def check_nodes(self) -> None:
        for node in self.graph.nodes:
            if node.id in self.nodes:
                self.add("graph.E004", f'Two nodes have the id "{node.id}".', node_id=node.id)
                continue
            self.nodes[node.id] = node
            node_type = NODE_TYPES.get(node.type)
            if node_type is None:
                known = ", ".join(sorted(NODE_TYPES))
                self.add(
                    "graph.E002",
                    f'Unknown node type "{node.type}". Known types: {known}.',
                    node_id=node.id,
                )
                continue
            self.types[node.id] = node_type
            if graph_size(node.config) > MAX_NODE_CONFIG_BYTES:
                self.add("graph.E017", "Configuration is larger than 256 KB.", node_id=node.id)
                continue
            config, errors = _config_errors(node, node_type)
            self.errors.extend(errors)
            if config is not None:
                self.configs[node.id] = config

    def check_edges(self) -> None:
        seen: set[str] = set()
        for edge in self.graph.edges:
            if edge.id in seen:
                self.add("graph.E005", f'Two edges have the id "{edge.id}".', edge_id=edge.id)
                continue
            seen.add(edge.id)
            missing = [end for end in (edge.source, edge.target) if end not in self.nodes]
            if missing:
                self.add(
                    "graph.E006",
                    f'Edge connects to a node that does not exist: "{missing[0]}".',
                    edge_id=edge.id,
                )
                continue
            if self.port_errors(edge):
                continue
            self.edges.append(edge)

    def port_errors(self, edge: Edge) -> bool:
        bad = False
        source_type = self.types.get(edge.source)
        # A router's ports come from its routes: unknown while its config is invalid.
        ports_known = source_type is not None and (
            edge.source in self.configs or source_type.type != "router"
        )
        if source_type is not None and ports_known:
            ports = source_type.output_ports(self.configs.get(edge.source))
            if edge.source_port not in ports:
                self.add(
                    "graph.E007",
                    f'"{edge.source}" has no output port "{edge.source_port}"'
                    f" (it has: {', '.join(ports) or 'none'}).",
                    edge_id=edge.id,
                    node_id=edge.source,
                )
                bad = True
        target_type = self.types.get(edge.target)
        if target_type is not None:
            ports = target_type.input_ports()
            if edge.target_port not in ports:
                self.add(
                    "graph.E007",
                    f'"{edge.target}" has no input port "{edge.target_port}"'
                    f" (it has: {', '.join(ports) or 'none'}).",
                    edge_id=edge.id,
                    node_id=edge.target,
                )
                bad = True
        return bad

    def of_type(self, slug: str) -> list[str]:
        return [node_id for node_id, t in self.types.items() if t.type == slug]

    def check_endpoints(self) -> None:
        inputs = self.of_type("input")
        if not inputs:
            self.add("graph.E008", "The flow needs an Input node to start from.")
        for extra in inputs[1:]:
            self.add("graph.E019", "A flow has exactly one Input node.", node_id=extra)
        if not self.of_type("output"):
            self.add("graph.E009", "The flow needs an Output node to produce a result.")
        for router_id in self.of_type("router"):
            config = self.configs.get(router_id)
            if config is None:
                continue
            used = {e.source_port for e in self.edges if e.source == router_id}
            for route in config.routes:
                if route.name not in used:
                    self.add(
                        "graph.E012",
                        f'Route "{route.name}" has no outgoing edge.',
                        node_id=router_id,
                        field=f"routes.{route.name}",
                    )

    def retry_candidates(self) -> set[str]:
        evaluators = set(self.of_type("evaluator"))
        return {e.id for e in self.edges if e.source in evaluators and e.source_port == "fail"}

    def check_cycles(self, retry_edges: set[str]) -> None:
        forward = [e for e in self.edges if e.id not in retry_edges]
        successors: dict[str, list[Edge]] = defaultdict(list)
        indegree = dict.fromkeys(self.nodes, 0)
        for edge in forward:
            successors[edge.source].append(edge)
            indegree[edge.target] += 1
        queue = deque(node_id for node_id, d in indegree.items() if d == 0)
        while queue:
            node_id = queue.popleft()
            for edge in successors[node_id]:
                indegree[edge.target] -= 1
                if indegree[edge.target] == 0:
                    queue.append(edge.target)
        in_cycle = {node_id for node_id, d in indegree.items() if d > 0}
        for edge in forward:
            if edge.source in in_cycle and edge.target in in_cycle:
                self.add(
                    "graph.E011",
                    "This edge closes a loop. Loops must go back through an Evaluator's fail "
                    "port, which bounds them by max attempts.",
                    edge_id=edge.id,
                    node_id=edge.target,
                )
                return

    def check_reachable(self) -> None:
        inputs = self.of_type("input")
        if not inputs:
            return
        successors: dict[str, set[str]] = defaultdict(set)
        for edge in self.edges:
            successors[edge.source].add(edge.target)
        reached = set(inputs)
        queue = deque(inputs)
        while queue:
            for target in successors[queue.popleft()]:
                if target not in reached:
                    reached.add(target)
                    queue.append(target)
        for node_id in self.nodes:
            if node_id not in reached:
                self.add("graph.E010", "Nothing connects this node to the Input.", node_id=node_id)

    def check_ports_connected(self) -> None:
        connected = {(e.target, e.target_port) for e in self.edges}
        for node_id, node_type in self.types.items():
            for port in node_type.inputs:
                if port.required and (node_id, port.name) not in connected:
                    self.add(
                        "graph.E013",
                        f'Input port "{port.label}" is not connected.',
                        node_id=node_id,
                        field=port.name,
                    )

    def ancestors(self, retry_edges: set[str]) -> dict[str, set[str]]:
        predecessors: dict[str, set[str]] = defaultdict(set)
        for edge in self.edges:
            if edge.id not in retry_edges:
                predecessors[edge.target].add(edge.source)
        memo: dict[str, set[str]] = {}
        for start in self.nodes:
            seen: set[str] = set()
            stack = list(predecessors[start])
            while stack:
                current = stack.pop()
                if current in seen:
                    continue
                seen.add(current)
                if current in memo:
                    seen |= memo[current]
                else:
                    stack.extend(predecessors[current])
            memo[start] = seen
        return memo

    def input_names(self) -> set[str] | None:
        inputs = self.of_type("input")
        config = self.configs.get(inputs[0]) if inputs else None
        return set(config.field_names()) if config is not None else None

    def check_references(self, retry_edges: set[str]) -> None:
        ancestors = self.ancestors(retry_edges)
        input_names = self.input_names()
        for node_id, config in self.configs.items():
            node_type = self.types[node_id]
            upstream = ancestors.get(node_id, set())
            for field_name, text in node_type.templates(config):
                refs = references(text)
                if refs.syntax_error:
                    self.add(
                        "graph.E020",
                        f"{field_name}: {refs.syntax_error}",
                        node_id=node_id,
                        field=field_name,
                    )
                    continue
                for root in sorted(refs.roots - TEMPLATE_ROOTS):
                    self.add(
                        "graph.E014",
                        f'{field_name}: "{root}" is not available. Use inputs.<name>, '
                        "nodes.<id>.output, feedback or iteration.",
                        node_id=node_id,
                        field=field_name,
                    )
                self.check_node_refs(node_id, field_name, refs.nodes, upstream)
                self.check_input_refs(node_id, field_name, refs.inputs, input_names)
            for field_name, path in node_type.references(config):
                parts = path_parts(path)
                root = parts[0] if parts else ""
                if root == "nodes" and len(parts) >= 2:
                    self.check_node_refs(node_id, field_name, {parts[1]}, upstream)
                elif root == "inputs" and len(parts) >= 2:
                    self.check_input_refs(node_id, field_name, {parts[1]}, input_names)
                elif root not in ("feedback", "iteration"):
                    self.add(
                        "graph.E014",
                        f'{field_name}: "{path}" must start with inputs.<name> or nodes.<id>.',
                        node_id=node_id,
                        field=field_name,
                    )

    def check_node_refs(self, node_id: str, field: str, refs: set[str], upstream: set[str]):
        for ref in sorted(refs):
            if ref not in self.nodes:
                message = f'{field}: there is no node "{ref}".'
            elif ref not in upstream:
                message = f'{field}: node "{ref}" does not run before this node.'
            else:
                continue
            self.add("graph.E014", message, node_id=node_id, field=field)

    def check_input_refs(self, node_id: str, field: str, refs: set[str], names: set[str] | None):
        if names is None:
            return
        for ref in sorted(refs - names):
            self.add(
                "graph.E014",
                f'{field}: the Input node has no field "{ref}".',
                node_id=node_id,
                field=field,
            )


def validate_graph(document: Any) -> list[GraphError]:
    """Return every problem with a graph document; an empty list means it can run."""
    try:
        size = graph_size(document)
    except (TypeError, ValueError):
        return [GraphError("graph.E001", "The graph is not serialisable JSON.")]
    if size > MAX_GRAPH_BYTES:
        return [GraphError("graph.E018", f"The graph is {size:,} bytes; the limit is 5 MB.")]
    graph, errors = _parse(document)
    if graph is None:
        return errors
    return _Checker(graph).run()

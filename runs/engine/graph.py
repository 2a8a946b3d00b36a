"""A graph compiled for execution: indexes, retry edges and loop bodies."""

from __future__ import annotations

import builtins
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .names import readable_names
from .nodes import NODE_TYPES, NodeConfig, NodeType
from .regions import has_regions, outer_document, region_document


@dataclass(frozen=True)
class Edge:
    id: str
    source: str
    source_port: str
    target: str
    target_port: str


@dataclass
class Node:
    id: str
    type: str
    label: str
    config: NodeConfig
    node_type: builtins.type[NodeType]
    key: str = ""


@dataclass
class CompiledGraph:
    """A validated graph with what the scheduler asks of it precomputed."""

    nodes: dict[str, Node]
    edges: list[Edge]
    incoming: dict[str, list[Edge]] = field(default_factory=dict)
    outgoing: dict[str, list[Edge]] = field(default_factory=dict)
    retry_edges: set[str] = field(default_factory=set)
    # evaluator id -> the nodes its retry re-arms (from the retry target to the evaluator)
    loop_bodies: dict[str, set[str]] = field(default_factory=dict)
    # node id -> its key, for the nodes whose key differs from their id
    keys: dict[str, str] = field(default_factory=dict)
    # node id -> its readable name (its key, or from its label), for what people see
    names: dict[str, str] = field(default_factory=dict)
    # A map's region run alone (`compile_graph(..., region=)`): the map's id, and the node
    # whose output is the item's result when the region has no Output node.
    region: str = ""
    result_node: str | None = None

    @property
    def input_node(self) -> str | None:
        return next((n.id for n in self.nodes.values() if n.node_type.provides_inputs), None)

    def loops_containing(self, node_id: str) -> list[str]:
        """The evaluators whose retry loop contains the node (computed once per graph)."""
        index = self.__dict__.get("_loops")
        if index is None:
            index = {node: [] for node in self.nodes}
            for evaluator, body in self.loop_bodies.items():
                for member in body:
                    index.setdefault(member, []).append(evaluator)
            self.__dict__["_loops"] = index
        return index.get(node_id, [])

    def has_forward_edges(self, node_id: str, port: str) -> bool:
        return any(
            e.source_port == port and e.id not in self.retry_edges
            for e in self.outgoing.get(node_id, [])
        )


def _reachable(start: str, successors: dict[str, set[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in successors.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def compile_graph(document: dict[str, Any], region: str = "") -> CompiledGraph:
    """Build a CompiledGraph from a graph document that has passed validation.

    Nodes inside map regions are left out; with `region` (a map node's id), only that map's
    region is compiled, as each of its items runs it (`regions.region_document`)."""
    result_node = None
    if region:
        document, result_node = region_document(document, region)
    elif has_regions(document):
        document = outer_document(document)
    graph = _compile(document)
    graph.region, graph.result_node = region, result_node
    return graph


def _compile(document: dict[str, Any]) -> CompiledGraph:
    nodes: dict[str, Node] = {}
    for raw in document.get("nodes", []):
        node_type = NODE_TYPES[raw["type"]]
        nodes[raw["id"]] = Node(
            id=raw["id"],
            type=raw["type"],
            label=raw.get("label") or raw["id"],
            config=node_type.Config.model_validate(raw.get("config") or {}),
            node_type=node_type,
            key=raw.get("key") or "",
        )
    edges = [
        Edge(
            id=e["id"],
            source=e["source"],
            source_port=e.get("source_port", "out"),
            target=e["target"],
            target_port=e.get("target_port", "in"),
        )
        for e in document.get("edges", [])
    ]
    graph = CompiledGraph(nodes=nodes, edges=edges)
    graph.keys = {n.id: n.key for n in nodes.values() if n.key and n.key != n.id}
    # A node's label defaults to its id above; an unlabelled node is named by its id.
    graph.names = readable_names(
        (n.id, n.key, n.label if n.label != n.id else "") for n in nodes.values()
    )
    incoming: dict[str, list[Edge]] = defaultdict(list)
    outgoing: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        incoming[edge.target].append(edge)
        outgoing[edge.source].append(edge)
    graph.incoming, graph.outgoing = dict(incoming), dict(outgoing)

    fail_edges = [
        e
        for e in edges
        if nodes[e.source].node_type.retry_port is not None
        and e.source_port == nodes[e.source].node_type.retry_port
    ]
    forward: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        if edge not in fail_edges:
            forward[edge.source].add(edge.target)
    backward: dict[str, set[str]] = defaultdict(set)
    for source, targets in forward.items():
        for target in targets:
            backward[target].add(source)
    for edge in fail_edges:
        from_target = _reachable(edge.target, forward)
        if edge.source in from_target:
            graph.retry_edges.add(edge.id)
            body = from_target & _reachable(edge.source, backward)
            graph.loop_bodies.setdefault(edge.source, set()).update(body)
    return graph

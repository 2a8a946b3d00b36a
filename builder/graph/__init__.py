"""The flow graph document and its validation.

`validate_graph` returns every problem at once, each with a stable code and the node or edge it
belongs to, so the canvas can mark them. Codes never change meaning once published. One cause
gives one error: a node cut off by a broken edge is not also reported as unreachable. The nodes
inside a map (its region) are checked as the map's items run them, apart from the rest
(`regions`).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any

from .checks import GraphChecker
from .document import (
    ERROR_CODES,
    MAP_CODES,
    MAX_EDGES,
    MAX_GRAPH_BYTES,
    MAX_GRAPH_DEPTH,
    MAX_NODE_CONFIG_BYTES,
    MAX_NODES,
    NODE_ID,
    SCHEMA_VERSION,
    SUBFLOW_CODES,
    WARNING_CODES,
    Edge,
    Graph,
    GraphEdge,
    GraphError,
    GraphNode,
    Node,
    ParsedGraph,
    Position,
    empty_graph,
    graph_size,
    json_problem,
    limit_errors,
    parse_graph,
)
from .regions import region_levels

__all__ = [
    "ERROR_CODES",
    "MAP_CODES",
    "MAX_EDGES",
    "MAX_GRAPH_BYTES",
    "MAX_GRAPH_DEPTH",
    "MAX_NODES",
    "MAX_NODE_CONFIG_BYTES",
    "NODE_ID",
    "SCHEMA_VERSION",
    "SUBFLOW_CODES",
    "WARNING_CODES",
    "Edge",
    "Graph",
    "GraphEdge",
    "GraphError",
    "GraphNode",
    "Node",
    "ParsedGraph",
    "Position",
    "empty_graph",
    "graph_size",
    "json_problem",
    "validate_graph",
]


def validate_graph(
    document: Any,
    *,
    credentials: Callable[[], AbstractSet[str]] | None = None,
    catalogue: Callable[[], list[Any]] | None = None,
) -> list[GraphError]:
    """Return every problem with a graph document; an empty list means it can run.

    `credentials` returns the workspace's credential names; it is called only when a template
    reads `secrets.<name>`, and without it credential names are not checked. `catalogue`
    returns the workspace's models, asked only when a prompt's model is auto.

    A document that is not storable JSON, or is over the size limits, gets only that error: the
    structural checks are not worth running (or safe to run) on it.
    """
    problem = json_problem(document, max_depth=MAX_GRAPH_DEPTH)
    if problem:
        return [GraphError("graph.E001", f"The graph is not valid JSON data: {problem}.")]
    size = graph_size(document)
    if size > MAX_GRAPH_BYTES:
        return [GraphError("graph.E018", f"The graph is {size:,} bytes; the limit is 5 MB.")]
    if isinstance(document, dict) and (limits := limit_errors(document)):
        return limits
    graph, errors = parse_graph(document)
    if graph is None:
        return errors
    levels, errors = region_levels(graph)
    for region, part in levels:
        found = GraphChecker(part, credentials, catalogue).run()
        # Inside a region, the item's result may be its last step's output: no Output needed.
        errors += [e for e in found if not region or e.code != "graph.E009"]
    return errors

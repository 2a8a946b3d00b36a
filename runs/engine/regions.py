"""Regions: the nodes a map runs once per item, drawn inside it on the canvas.

A node whose `parent` names a map node belongs to that map's region. The run that holds the map
never executes the region's nodes; each item gets a child run of the same flow version that
executes only the region (`Run.region` names the map). There the map's own id stands for an
Input node that gives the item's inputs to the region's first node, and the item's result is
what the region's Output node gives, or, without one, the output of its last node.

These functions read graph documents and build the region's document; validation
(`builder.graph.regions`) and the compiled graph (`graph.compile_graph`) share them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .nodes import NODE_TYPES

#: The id of the edge that brings the item from the map into the region's first node.
ITEM_EDGE = "{map}:item"


def node_parent(node: dict[str, Any]) -> str:
    parent = node.get("parent") if isinstance(node, dict) else None
    return parent if isinstance(parent, str) else ""


def has_regions(document: dict[str, Any]) -> bool:
    """Whether any node of the document is inside a region (the fast common case: none)."""
    return any(node_parent(n) for n in document.get("nodes") or [])


def outer_document(document: dict[str, Any], region: str = "") -> dict[str, Any]:
    """The nodes at one level (the top level by default, or a map's region's own members),
    with the edges between them; deeper regions' nodes are left out."""
    nodes = [n for n in document.get("nodes") or [] if node_parent(n) == region]
    ids = {n.get("id") for n in nodes}
    edges = [
        e for e in document.get("edges") or [] if e.get("source") in ids and e.get("target") in ids
    ]
    return {**document, "nodes": nodes, "edges": edges}


def _retry_edges(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> set[str]:
    """The evaluator fail edges that loop back inside these nodes (the engine's rule)."""
    types = {n["id"]: NODE_TYPES.get(str(n.get("type"))) for n in nodes}
    fails = [
        e
        for e in edges
        if (t := types.get(e["source"])) is not None
        and t.retry_port is not None
        and e.get("source_port", "out") == t.retry_port
    ]
    forward: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        if edge not in fails:
            forward[edge["source"]].add(edge["target"])
    found = set()
    for edge in fails:
        seen, stack = {edge["target"]}, [edge["target"]]
        while stack:
            for nxt in forward.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        if edge["source"] in seen:
            found.add(edge["id"])
    return found


def region_ends(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """A region's first nodes (no edge leads into them but a loop's retry) and its last nodes
    (no edge leaves them but a retry), in the order of the document."""
    retry = _retry_edges(nodes, edges)
    into = {e["target"] for e in edges if e["id"] not in retry}
    out_of = {e["source"] for e in edges if e["id"] not in retry}
    ids = [n["id"] for n in nodes]
    return [i for i in ids if i not in into], [i for i in ids if i not in out_of]


def item_schema(document: dict[str, Any], config: Any) -> dict[str, Any]:
    """The inputs each item's run has: the run's own, the map's other inputs, and the item."""
    properties: dict[str, Any] = {}
    for node in document.get("nodes") or []:
        node_type = NODE_TYPES.get(node.get("type"))
        if node_type is not None and node_type.provides_inputs and not node_parent(node):
            schema = (node.get("config") or {}).get("schema") or {}
            if isinstance(schema.get("properties"), dict):
                properties.update(schema["properties"])
    for name in getattr(config, "inputs", None) or {}:
        properties[name] = {}
    properties[getattr(config, "item_input", "item")] = {}
    return {"type": "object", "properties": properties}


def region_document(
    document: dict[str, Any], region: str, *, schema: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str | None]:
    """The graph an item's run executes: the region's members, an Input node standing for the
    map (with the map's id and key) and an edge from it into the region's first node.

    Return it with the node whose output is the item's result when the region has no Output
    node (its last node), else None. The region must have passed validation."""
    map_node = next(n for n in document.get("nodes") or [] if n.get("id") == region)
    inner = outer_document(document, region)
    nodes, edges = list(inner["nodes"]), list(inner["edges"])
    firsts, lasts = region_ends(nodes, edges)
    standing = {
        "id": region,
        "type": "input",
        "label": map_node.get("label") or region,
        "config": {"schema": schema or {"type": "object"}},
    }
    if map_node.get("key"):
        standing["key"] = map_node["key"]
    if firsts:
        first_type = NODE_TYPES.get(next(n for n in nodes if n["id"] == firsts[0]).get("type"))
        ports = first_type.input_ports() if first_type is not None else ["in"]
        edges.append(
            {
                "id": ITEM_EDGE.format(map=region),
                "source": region,
                "source_port": "out",
                "target": firsts[0],
                "target_port": "in" if "in" in ports or not ports else ports[0],
            }
        )
    has_output = any(
        (t := NODE_TYPES.get(n.get("type"))) is not None and t.produces_result for n in nodes
    )
    result_node = None if has_output or len(lasts) != 1 else lasts[0]
    return {**document, "nodes": [standing, *nodes], "edges": edges}, result_node

"""The well-configured nodes of a graph document, for the checks that read node configs (the
flows sub-flow and map nodes call, the knowledge bases nodes search)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from runs.engine.nodes import NODE_TYPES


def configured_nodes(graph: Any) -> Iterator[tuple[str, Any, Any]]:
    """(node id, node type, validated config) of every node of a known type whose config
    validates; the others are reported as bad configurations by graph validation already."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict):
            continue
        node_type = NODE_TYPES.get(str(node.get("type")))
        if node_type is None:
            continue
        try:
            config = node_type.Config.model_validate(node.get("config") or {})
        except ValidationError:
            continue
        yield str(node.get("id")), node_type, config

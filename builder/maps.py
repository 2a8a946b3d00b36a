"""Checks on a graph's map nodes: an items list to go through, a concurrency this installation
allows, and an item input the called flow has (following the published version it would run).

Whether the called flow exists, is published and does not call back is `builder.subflows`'s
business: a map is a sub-flow node with many children.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from runs.engine.nodes import NODE_TYPES
from runs.engine.nodes.map import MAX_CONCURRENCY

from .configured import configured_nodes
from .graph import GraphError
from .models import Flow


def _maps(graph: Any) -> list[tuple[str, Any]]:
    """The (node id, config) of every well-configured map node of a graph."""
    return [
        (node_id, config)
        for node_id, node_type, config in configured_nodes(graph)
        if node_type.runs_per_item
    ]


def _input_names(flow_id: int, version: int | None, workspace_id: int) -> set[str] | None:
    """The input names the called flow's version declares; None when they are open or unknown
    (a missing or unpublished flow is reported by the sub-flow checks)."""
    flow = Flow.objects.live().filter(pk=flow_id, workspace_id=workspace_id).first()
    if flow is None:
        return None
    versions = flow.versions.filter(published=True)
    if version is not None:
        versions = versions.filter(number=version)
    graph = versions.order_by("-number").values_list("graph", flat=True).first()
    for node in (graph or {}).get("nodes") or []:
        node_type = NODE_TYPES.get(str(node.get("type")))
        if node_type is not None and node_type.provides_inputs:
            schema = (node.get("config") or {}).get("schema") or {}
            properties = schema.get("properties")
            return set(properties) if isinstance(properties, dict) else None
    return None


def max_concurrency() -> int:
    return min(MAX_CONCURRENCY, int(getattr(settings, "SWITCHBOARD_MAP_MAX_CONCURRENCY", 10)))


def map_errors(*, graph: Any, workspace_id: int) -> list[GraphError]:
    """Return the problems with a graph's map nodes."""
    errors = []
    for node_id, config in _maps(graph):
        if not config.items.strip():
            errors.append(
                GraphError(
                    "graph.E065",
                    "Say which list to go through, e.g. {{ nodes.shopping.output.missing }}.",
                    node_id=node_id,
                    field="items",
                )
            )
        if config.concurrency > max_concurrency():
            errors.append(
                GraphError(
                    "graph.E066",
                    f"At most {max_concurrency()} items may run at once here; "
                    f"{config.concurrency} were asked for.",
                    node_id=node_id,
                    field="concurrency",
                )
            )
        if config.item_input in config.inputs:
            errors.append(
                GraphError(
                    "graph.E068",
                    f'"{config.item_input}" already receives each item; give the other input '
                    "another name, or send the item to another input.",
                    node_id=node_id,
                    field="inputs",
                )
            )
        if config.flow is None:
            continue  # it runs the steps inside it (`graph.regions` checks those)
        names = _input_names(config.flow, config.version, workspace_id)
        if names is not None and config.item_input not in names:
            listed = ", ".join(sorted(names)) or "none"
            errors.append(
                GraphError(
                    "graph.E067",
                    f'The called flow has no input "{config.item_input}" to receive each item '
                    f"(its inputs: {listed}).",
                    node_id=node_id,
                    field="item_input",
                )
            )
    return errors

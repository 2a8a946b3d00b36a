"""Node keys: the readable names templates use for nodes (`{{ nodes.shopping_list.output }}`).

A key is derived from the label once, when the node is created, and then stored on the node: a
renamed node keeps its key, so every reference to it keeps working. Templates may name a node by
its key or by its id (docs/node-keys.md).
"""

from __future__ import annotations

from typing import Any

from runs.engine.names import derive_key

__all__ = ["derive_key", "keep_keys", "with_keys"]


def keep_keys(graph: Any, previous: Any) -> Any:
    """Give nodes saved without a key the key they had in `previous` (same id), in place.

    An editor that does not know about keys then cannot lose them on its next save.
    """
    old = _keys(previous)
    if not old or not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        return graph
    for node in graph["nodes"]:
        if isinstance(node, dict) and "key" not in node and node.get("id") in old:
            node["key"] = old[node["id"]]
    return graph


def with_keys(graph: dict[str, Any]) -> dict[str, Any]:
    """Give every node without a key one derived from its label (for flows the app builds)."""
    nodes = graph.get("nodes", [])
    taken = {n["id"] for n in nodes} | {n["key"] for n in nodes if n.get("key")}
    for node in nodes:
        if not node.get("key"):
            node["key"] = derive_key(node.get("label") or node["id"], taken - {node["id"]})
            taken.add(node["key"])
    return graph


def _keys(graph: Any) -> dict[str, str]:
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        return {}
    return {
        node["id"]: node["key"]
        for node in graph["nodes"]
        if isinstance(node, dict)
        and isinstance(node.get("id"), str)
        and isinstance(node.get("key"), str)
        and node["key"]
    }

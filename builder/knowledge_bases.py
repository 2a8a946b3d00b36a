"""Warnings about the knowledge bases a graph's nodes search: a name no knowledge base of the
flow's workspace has.

Not an error: names are looked up when the step runs (a base may be created, or renamed, after
publishing), and a missing one fails that step, which may go out of its Error port. Validation
only says so ahead of time (`graph.W001`).
"""

from __future__ import annotations

from typing import Any

from knowledge.models import KnowledgeBase

from .configured import configured_nodes
from .graph import GraphError


def _searched(graph: Any) -> list[tuple[str, list[str]]]:
    """The (node id, knowledge base names) of every well-configured node that searches some."""
    return [
        (node_id, names)
        for node_id, node_type, config in configured_nodes(graph)
        if (names := node_type.knowledge_bases(config))
    ]


def knowledge_base_warnings(*, graph: Any, workspace_id: int) -> list[GraphError]:
    """One warning per node and knowledge base name the workspace has no base called."""
    searched = _searched(graph)
    if not searched:
        return []
    wanted = {name for _, names in searched for name in names}
    existing = set(
        KnowledgeBase.objects.filter(workspace_id=workspace_id, name__in=wanted).values_list(
            "name", flat=True
        )
    )
    return [
        GraphError(
            "graph.W001",
            f"Knowledge base “{name}” does not exist in this workspace (yet); the step will fail "
            "when it runs.",
            node_id=node_id,
            field="knowledge_bases",
        )
        for node_id, names in searched
        for name in names
        if name not in existing
    ]

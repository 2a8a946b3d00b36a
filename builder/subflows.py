"""Checks on the flows a graph's sub-flow nodes call: they exist in the workspace, are published,
and do not call back into the flow (following the published versions they would run)."""

from __future__ import annotations

from typing import Any

from .configured import configured_nodes
from .graph import GraphError
from .models import Flow

# Enough for any real nesting; past it the run-time depth limit speaks.
MAX_FLOWS_VISITED = 200


def _calls(graph: Any) -> list[tuple[str, str, int, int | None]]:
    """The (node id, config field, flow id, version) of every flow a well-configured node of a
    graph may run as a child run: sub-flow and map nodes, and flows offered as tools."""
    return [
        (node_id, field, flow_id, version)
        for node_id, node_type, config in configured_nodes(graph)
        for field, flow_id, version in node_type.called_flows(config)
    ]


def _called_graph(flow: Flow, version: int | None) -> dict[str, Any] | None:
    versions = flow.versions.filter(published=True)
    if version is not None:
        versions = versions.filter(number=version)
    return versions.order_by("-number").values_list("graph", flat=True).first()


def _reaches(start: int, version: int | None, target: int | None, workspace_id: int) -> list[int]:
    """The chain of flow ids from `start` back to `target` (or into any loop), following the
    published versions; [] when there is none."""
    visited: set[int] = set()
    stack: list[tuple[int, int | None, list[int]]] = [(start, version, [start])]
    while stack and len(visited) < MAX_FLOWS_VISITED:
        flow_id, number, path = stack.pop()
        if flow_id in visited:
            continue
        visited.add(flow_id)
        flow = Flow.objects.live().filter(pk=flow_id, workspace_id=workspace_id).first()
        graph = _called_graph(flow, number) if flow is not None else None
        for _node, _field, called, called_version in _calls(graph):
            if called == target or called in path:
                return [*path, called]
            stack.append((called, called_version, [*path, called]))
    return []


def subflow_errors(
    *, graph: Any, workspace_id: int, flow_id: int | None = None
) -> list[GraphError]:
    """Return the problems with the flows a graph's sub-flow nodes call."""
    errors = []
    for node_id, field, called, version in _calls(graph):
        flow = Flow.objects.live().filter(pk=called).first()
        where = {"node_id": node_id, "field": field}
        if flow is None:
            errors.append(GraphError("graph.E040", f"There is no flow {called} to call.", **where))
            continue
        if flow.workspace_id != workspace_id:
            errors.append(
                GraphError(
                    "graph.E041",
                    f"Flow {called} belongs to another workspace; a sub-flow can only call "
                    "flows of this workspace.",
                    **where,
                )
            )
            continue
        if _called_graph(flow, version) is None:
            which = f"version {version} of" if version is not None else "any published version of"
            errors.append(
                GraphError(
                    "graph.E042",
                    f'There is no {which} the flow "{flow.name}". Publish it first.',
                    node_id=node_id,
                    field="version" if version is not None and field == "flow" else field,
                )
            )
            continue
        chain = [flow_id] if called == flow_id else _reaches(called, version, flow_id, workspace_id)
        if chain:
            names = dict(Flow.objects.filter(pk__in=set(chain)).values_list("pk", "name"))
            steps = ([flow_id] if flow_id else []) + chain
            loop = " → ".join(f'"{names.get(pk, pk)}"' for pk in steps)
            errors.append(
                GraphError(
                    "graph.E043",
                    f"This sub-flow would call itself again: {loop}. Remove one of the calls.",
                    **where,
                )
            )
    return errors

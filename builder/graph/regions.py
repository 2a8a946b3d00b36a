"""Checks on map regions, and the graphs the other checks then run over, one per level.

A node whose `parent` is a map node is drawn inside that map: the map runs it once per item.
The flow is checked without the nodes inside maps, and each map's region on its own, the way
an item's run executes it (`runs.engine.regions.region_document`): from an Input standing for
the map, which gives the item to the region's first node. So every other check (templates,
shapes, loops, ports) applies inside a region unchanged, and a template inside a region that
reads a node outside it is reported as reading unknown data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from runs.engine.nodes import NODE_TYPES
from runs.engine.regions import item_schema, region_document, region_ends

from .document import GraphEdge, GraphError, GraphNode, ParsedGraph

#: The level of a node placed where it cannot be: it is checked nowhere else.
UNPLACED = "\x00"


def _name(node: GraphNode) -> str:
    return node.label or node.id


class RegionSplit:
    """A parsed graph split into the flow's own level and one level per map region."""

    def __init__(self, graph: ParsedGraph) -> None:
        self.graph = graph
        self.errors: list[GraphError] = []
        self.nodes: dict[str, GraphNode] = {}
        for node in graph.nodes:
            self.nodes.setdefault(node.id, node)
        #: node id -> the region it is checked in ("" for the flow's own level).
        self.level: dict[str, str] = {}
        #: Regions whose checks would only repeat what is wrong with their shape.
        self.broken: set[str] = set()

    def add(self, code: str, message: str, **where: Any) -> None:
        self.errors.append(GraphError(code, message, **where))

    def levels(self) -> list[tuple[str, ParsedGraph]]:
        """Return ("", the flow without its regions) and (map id, its region's graph) for each
        region whose shape lets it be checked; the problems with the regions go to `errors`."""
        for node in self.nodes.values():
            self.level[node.id] = self._parent(node)
        kept = self._edges()
        members: dict[str, list[GraphNode]] = {}
        for node in self.nodes.values():
            if self.level[node.id] not in ("", UNPLACED):
                members.setdefault(self.level[node.id], []).append(node)
        self._maps(members)
        found = [("", self._part("", kept))]
        for region, inside in members.items():
            if region not in self.broken and self._shape_ok(region, inside, kept):
                found.append((region, self._region(region)))
        return found

    def _parent(self, node: GraphNode) -> str:
        """The region a node is in: its parent, if that is a map that can hold it."""
        parent = node.parent
        if not parent:
            return ""
        holder = self.nodes.get(parent)
        node_type = NODE_TYPES.get(node.type)
        holder_type = NODE_TYPES.get(holder.type) if holder is not None else None
        if holder is None or holder_type is None or not holder_type.holds_region:
            what = "a node that does not exist" if holder is None else f'"{_name(holder)}"'
            self.add(
                "graph.E095",
                f"This node is placed inside {what}; only a Map node holds steps. Drag it "
                "out onto the canvas, or into a Map.",
                node_id=node.id,
                field="parent",
            )
            return UNPLACED
        seen, current = {node.id}, parent
        while current:
            if current in seen:
                self.add(
                    "graph.E095",
                    f'"{_name(node)}" is inside a map that is inside it. Drag it out.',
                    node_id=node.id,
                    field="parent",
                )
                return UNPLACED
            seen.add(current)
            above = self.nodes.get(current)
            current = above.parent if above is not None else ""
        if node_type is not None and node_type.provides_inputs:
            self.add(
                "graph.E096",
                f'An Input node cannot be inside the map "{_name(holder)}": inside a map, '
                "the first step receives each item (as {{ inputs.item }}). Drag the Input out.",
                node_id=node.id,
                field="parent",
            )
            self.broken.add(parent)
        return parent

    def _edges(self) -> list[GraphEdge]:
        """The edges within one level; each edge across a map's border is reported."""
        kept = []
        for edge in self.graph.edges:
            if edge.source not in self.nodes or edge.target not in self.nodes:
                kept.append(edge)  # the checks of its level report the missing end
                continue
            source, target = self.level[edge.source], self.level[edge.target]
            if UNPLACED in (source, target):
                continue  # the node's placement is the problem, reported already
            if source == target:
                kept.append(edge)
                continue
            if target == edge.source:
                message = (
                    f'Nothing needs to connect the map "{_name(self.nodes[edge.source])}" to '
                    "the steps inside it: its first step inside receives each item, and the "
                    "map's Out port gives every item's result once they are all done. Delete "
                    "this edge."
                )
            else:
                region = target or source
                message = (
                    f'This edge crosses the border of the map "{_name(self.nodes[region])}": '
                    "steps inside a map connect only to each other. Put both ends inside the "
                    "map or both outside; to use an outside value inside, give it to the map's "
                    "Other inputs."
                )
            self.add("graph.E092", message, edge_id=edge.id, node_id=edge.target)
            for end in (source, target):
                if end:
                    self.broken.add(end)
        return kept

    def _maps(self, members: dict[str, list[GraphNode]]) -> None:
        """A map runs either the steps inside it or a flow: exactly one of them."""
        for node_id, flow in _map_flows(self.nodes.values()):
            node = self.nodes[node_id]
            if self.level.get(node_id) == UNPLACED:
                continue
            if node_id in members and flow is not None:
                self.add(
                    "graph.E091",
                    f'"{_name(node)}" has steps inside it and also calls flow {flow}. Clear '
                    "Flow id to run the steps inside, or move them out to call the flow.",
                    node_id=node.id,
                    field="flow",
                )
            elif node_id not in members and flow is None:
                self.errors.append(_nothing_to_run(node))

    def _shape_ok(self, region: str, inside: list[GraphNode], kept: list[GraphEdge]) -> bool:
        """A region starts from one step and, without an Output, ends in one."""
        ids = {n.id for n in inside}
        nodes = [{"id": n.id, "type": n.type} for n in inside]
        edges = [
            {"id": e.id, "source": e.source, "source_port": e.source_port, "target": e.target}
            for e in kept
            if e.source in ids and e.target in ids
        ]
        firsts, lasts = region_ends(nodes, edges)
        holder = _name(self.nodes[region])
        if len(firsts) != 1:
            names = ", ".join(f'"{_name(self.nodes[i])}"' for i in firsts)
            self.add(
                "graph.E093",
                f'The steps inside "{holder}" must start from one step, which receives each '
                + (
                    f"item; {len(firsts)} steps have nothing leading into them ({names}). "
                    "Connect them so that one step comes first."
                    if firsts
                    else "item; every step inside has an edge leading into it. Remove the "
                    "edge into the step that should come first."
                ),
                node_id=firsts[1] if len(firsts) > 1 else region,
            )
            return False
        produces = any(
            (t := NODE_TYPES.get(n.type)) is not None and t.produces_result for n in inside
        )
        if not produces and len(lasts) != 1:
            names = ", ".join(f'"{_name(self.nodes[i])}"' for i in lasts)
            self.add(
                "graph.E094",
                f'Each item\'s result is what the last step inside "{holder}" gives, but '
                f"{len(lasts)} steps come last ({names}). Join them into one step, or add an "
                "Output node inside the map to say what each item's result is.",
                node_id=region,
            )
            return False
        return True

    def _part(self, region: str, kept: list[GraphEdge]) -> ParsedGraph:
        nodes = [n for n in self.graph.nodes if self.level.get(n.id, "") == region]
        edges = [e for e in kept if self._edge_level(e) == region]
        return ParsedGraph(nodes, edges)

    def _edge_level(self, edge: GraphEdge) -> str:
        """The level an edge is checked at: its source's, else its target's (a missing end is
        reported there), else the flow's own."""
        for end in (edge.source, edge.target):
            if end in self.level:
                return self.level[end]
        return ""

    def _region(self, region: str) -> ParsedGraph:
        """The region as an item's run executes it, for the other checks."""
        holder = self.nodes[region]
        node_type = NODE_TYPES[holder.type]
        try:
            config = node_type.Config.model_validate(holder.config)
        except ValidationError:
            config = None
        document = {
            "nodes": [
                {
                    "id": n.id,
                    "type": n.type,
                    "label": n.label,
                    "key": n.key,
                    "config": n.config,
                    "parent": self.level.get(n.id, ""),
                }
                for n in self.nodes.values()
            ],
            "edges": [e._asdict() for e in self.graph.edges],
        }
        schema = item_schema(document, config)
        built, _ = region_document(document, region, schema=schema)
        nodes = [
            GraphNode(n["id"], n["type"], n.get("label", ""), n["config"], n.get("key", ""))
            for n in built["nodes"]
        ]
        edges = [
            GraphEdge(e["id"], e["source"], e["source_port"], e["target"], e["target_port"])
            for e in built["edges"]
        ]
        return ParsedGraph(nodes, edges)


def _map_flows(nodes: Iterable[GraphNode]) -> Iterator[tuple[str, int | None]]:
    """Each well-configured node that may hold a region, with the flow it calls (or None)."""
    for node in nodes:
        node_type = NODE_TYPES.get(node.type)
        if node_type is None or not node_type.holds_region:
            continue
        try:
            config = node_type.Config.model_validate(node.config)
        except ValidationError:
            continue  # reported as a bad configuration
        yield node.id, getattr(config, "flow", None)


def _nothing_to_run(node: GraphNode) -> GraphError:
    return GraphError(
        "graph.E090",
        f'"{_name(node)}" has nothing to run for each item. Drag the steps to run for each '
        "item into it, or give the id of a published flow to call.",
        node_id=node.id,
        field="flow",
    )


def region_levels(graph: ParsedGraph) -> tuple[list[tuple[str, ParsedGraph]], list[GraphError]]:
    """Return the graphs to check, one per level, and the problems with the map regions."""
    if not any(node.parent for node in graph.nodes):
        nodes = {n.id: n for n in reversed(graph.nodes)}
        empty = [_nothing_to_run(nodes[i]) for i, flow in _map_flows(graph.nodes) if flow is None]
        return [("", graph)], empty
    split = RegionSplit(graph)
    levels = split.levels()
    return levels, split.errors

"""Graph algorithms over node ids for validation: reachability, loops and ancestry.

Everything here is iterative, so a long chain of nodes cannot exhaust the interpreter's stack.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence

Successors = Mapping[str, Sequence[str]]


def reachable(starts: Iterable[str], successors: Successors) -> set[str]:
    """Return every node reachable from `starts`, including them."""
    seen = set(starts)
    queue = deque(seen)
    while queue:
        for target in successors.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def breadth_first_order(starts: Sequence[str], successors: Successors) -> list[str]:
    """Return the nodes reachable from `starts` in breadth-first order."""
    order = list(dict.fromkeys(starts))
    seen = set(order)
    position = 0
    while position < len(order):
        for target in successors.get(order[position], ()):
            if target not in seen:
                seen.add(target)
                order.append(target)
        position += 1
    return order


def strongly_connected(nodes: Sequence[str], successors: Successors) -> list[list[str]]:
    """Return the strongly connected components, each before the components that reach it.

    Tarjan's algorithm: the order is reverse topological (sinks first).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors.get(root, ())))]
        while work:
            node, targets = work[-1]
            descended = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(successors.get(target, ()))))
                    descended = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def closing_edge(
    starts: Sequence[str], out_edges: Mapping[str, Sequence[tuple[str, str]]]
) -> tuple[str, str] | None:
    """Return the first (edge id, target) that closes a loop in a depth-first walk, or None.

    `out_edges` maps a node to its (edge id, target) pairs; walks begin at `starts` in order, so
    the edge reported is the one that leads back to a node visited earlier on the way in.
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root in starts:
        if root in state:
            continue
        state[root] = 1
        work = [(root, iter(out_edges.get(root, ())))]
        while work:
            node, edges = work[-1]
            for edge_id, target in edges:
                if state.get(target) == 1:
                    return edge_id, target
                if target not in state:
                    state[target] = 1
                    work.append((target, iter(out_edges.get(target, ()))))
                    break
            else:
                state[node] = 2
                work.pop()
    return None


class Descendants:
    """Which nodes each node reaches (itself included), as bitsets over `nodes`.

    `successors` must not lead outside `nodes`. One pass over the components, sinks first: a
    component's reach is its members and its successors' reach, final before it is read.
    """

    def __init__(self, nodes: Sequence[str], successors: Successors):
        self.bit = {node: 1 << i for i, node in enumerate(nodes)}
        components = strongly_connected(nodes, successors)
        self._component = {node: i for i, comp in enumerate(components) for node in comp}
        self._reach: list[int] = []
        for i, component in enumerate(components):
            reach = 0
            for node in component:
                reach |= self.bit[node]
                for target in successors.get(node, ()):
                    j = self._component[target]
                    if j != i:
                        reach |= self._reach[j]
            self._reach.append(reach)

    def of(self, node: str) -> int:
        """Return the bitset of the nodes `node` reaches, itself included."""
        return self._reach[self._component[node]]

    def reaches(self, node: str, target: str) -> bool:
        """Return True if `target` is reachable from `node` (or is `node`)."""
        return target in self.bit and bool(self.of(node) & self.bit[target])


class Ancestry:
    """Which nodes run before which: ancestors along forward edges (loops count as upstream)."""

    def __init__(self, nodes: Sequence[str], successors: Successors):
        components = strongly_connected(nodes, successors)
        self._bit = {node: 1 << i for i, node in enumerate(nodes)}
        self._component = {node: i for i, comp in enumerate(components) for node in comp}
        members = [0] * len(components)
        for i, component in enumerate(components):
            for node in component:
                members[i] |= self._bit[node]
        self._upstream = [0] * len(components)
        # Sources first: a component's ancestors are final before its successors read them.
        for i in reversed(range(len(components))):
            looped = len(components[i]) > 1 or any(
                node in successors.get(node, ()) for node in components[i]
            )
            if looped:
                self._upstream[i] |= members[i]
            for node in components[i]:
                for target in successors.get(node, ()):
                    j = self._component[target]
                    if j != i:
                        self._upstream[j] |= self._upstream[i] | members[i]
        self.components = components
        self.component_of: Mapping[str, int] = self._component

    def is_upstream(self, ancestor: str, node: str) -> bool:
        """Return True if `ancestor` runs before `node` along forward edges."""
        if ancestor not in self._bit or node not in self._component:
            return False
        return bool(self._upstream[self._component[node]] & self._bit[ancestor])

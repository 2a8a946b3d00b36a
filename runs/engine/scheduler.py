"""Decide what a run does next from the recorded state of its steps.

`plan` is a pure function: given the compiled graph and the steps recorded so far, it returns the
nodes to start, the nodes to skip, and whether the run is finished, waiting or over a budget.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from .graph import CompiledGraph, Edge

FINISHED = frozenset({"succeeded", "failed", "skipped", "cancelled"})
ACTIVE = frozenset({"queued", "running"})
RETRY_PORT = "retry"


@dataclass
class StepState:
    """The recorded state of one step (the latest attempt of a node at an iteration)."""

    node_id: str
    iteration: int = 0
    status: str = "queued"
    output: Any = None
    ports: list[str] = field(default_factory=list)
    error_code: str = ""
    error_message: str = ""
    attempt: int = 0


@dataclass(frozen=True)
class Budgets:
    max_steps: int | None = 200
    max_seconds: float | None = 3600
    max_tokens: int | None = None
    max_cost: float | None = None


@dataclass(frozen=True)
class Usage:
    steps: int = 0
    seconds: float = 0.0
    tokens: int = 0
    cost: float = 0.0


@dataclass
class Outcome:
    status: str  # "succeeded" or "failed"
    result: Any = None
    error_code: str = ""
    error_message: str = ""
    node_id: str | None = None


@dataclass
class Plan:
    ready: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, int]] = field(default_factory=list)
    outcome: Outcome | None = None
    waiting: bool = False
    active: bool = False


class RunState:
    """Indexes the recorded steps: each node's current iteration and its latest step there."""

    def __init__(self, graph: CompiledGraph, steps: list[StepState]):
        self.graph = graph
        self.latest = {(step.node_id, step.iteration): step for step in steps}
        if len(self.latest) < len(steps):
            # Attempts of the same node and iteration: the latest attempt counts.
            self.latest = {}
            for step in steps:
                key = (step.node_id, step.iteration)
                current = self.latest.get(key)
                if current is None or step.attempt >= current.attempt:
                    self.latest[key] = step
        self.retries = {
            evaluator: sum(
                1
                for (node_id, _), step in self.latest.items()
                if node_id == evaluator and step.ports == [RETRY_PORT]
            )
            for evaluator in graph.loop_bodies
        }
        # No loop has retried yet: every node is in iteration 0 (the common, fast case).
        self.flat = not any(self.retries.values())

    def iteration(self, node_id: str) -> int:
        if self.flat:
            return 0
        return sum(self.retries[ev] for ev in self.graph.loops_containing(node_id))

    def current(self, node_id: str) -> StepState | None:
        if self.flat:
            return self.latest.get((node_id, 0))
        return self.latest.get((node_id, self.iteration(node_id)))

    def feedback(self, node_id: str) -> str:
        """The feedback of the latest evaluator retry that re-armed this node."""
        best: tuple[int, str] | None = None
        for evaluator in self.graph.loops_containing(node_id):
            for (step_node, iteration), step in self.latest.items():
                if step_node == evaluator and step.ports == [RETRY_PORT]:
                    output = step.output if isinstance(step.output, dict) else {}
                    if best is None or iteration > best[0]:
                        best = (iteration, str(output.get("feedback", "")))
        return best[1] if best else ""

    def outputs(self) -> dict[str, dict[str, Any]]:
        """Template data: every node's latest succeeded output (None when it has not run); a
        step that failed down its error branch shows its error object."""
        data: dict[str, dict[str, Any]] = {
            node_id: {"output": None, "status": "pending"} for node_id in self.graph.nodes
        }
        best_iteration: dict[str, int] = {}
        for (node_id, iteration), step in self.latest.items():
            if node_id not in data or step.status not in ("succeeded", "skipped", "failed"):
                continue
            if step.status == "failed" and not step.ports:
                continue  # a failure that took no error branch produced nothing
            if iteration >= best_iteration.get(node_id, -1):
                best_iteration[node_id] = iteration
                data[node_id] = {"output": step.output, "status": step.status}
        # A node's key names the same data as its id (docs/node-keys.md); validation refuses a
        # key that is another node's id or key, so an alias never hides a node.
        for node_id, key in self.graph.keys.items():
            data.setdefault(key, data[node_id])
        return data


def _edge_state(state: RunState, edge: Edge) -> str:
    """Return "taken", "skipped" or "pending" for an edge, seen from its source's latest step."""
    source = state.current(edge.source)
    if source is None or source.status not in FINISHED:
        return "pending"
    return "taken" if edge.source_port in (source.ports or []) else "skipped"


def _over_budget(budgets: Budgets, usage: Usage) -> str | None:
    if budgets.max_steps is not None and usage.steps >= budgets.max_steps:
        return f"The run reached its limit of {budgets.max_steps} steps."
    if budgets.max_seconds is not None and usage.seconds >= budgets.max_seconds:
        return f"The run reached its time limit of {budgets.max_seconds:g} seconds."
    if budgets.max_tokens is not None and usage.tokens >= budgets.max_tokens:
        return f"The run reached its limit of {budgets.max_tokens} tokens."
    if budgets.max_cost is not None and usage.cost >= budgets.max_cost:
        return f"The run reached its cost limit of ${budgets.max_cost:g}."
    return None


def _unrouted_failure(
    graph: CompiledGraph, state: RunState, focus: set[str] | None = None
) -> StepState | None:
    # With a hint, the changed nodes are the only ones whose failure the last plan did not see.
    for node_id in graph.nodes if focus is None else _in_order(graph, focus):
        step = state.current(node_id)
        if step is not None and step.status == "failed" and not step.ports:
            return step
    return None


def _result(graph: CompiledGraph, state: RunState) -> tuple[bool, Any]:
    """Whether the run reached its result, and the result: its Output nodes' merged outputs,
    or a region's last node's output when the region has no Output node."""
    if graph.result_node is not None:
        step = state.current(graph.result_node)
        if step is not None and step.status == "succeeded":
            return True, step.output
        return False, None
    result: dict[str, Any] = {}
    reached = False
    for node_id, node in graph.nodes.items():
        step = state.current(node_id)
        if node.node_type.produces_result and step is not None and step.status == "succeeded":
            reached = True
            if isinstance(step.output, dict):
                result.update(step.output)
    return reached, result


def _successors(graph: CompiledGraph, node_id: str) -> list[str]:
    return [e.target for e in graph.outgoing.get(node_id, []) if e.id not in graph.retry_edges]


def _focus(graph: CompiledGraph, changed: Collection[str]) -> set[str]:
    """The nodes a hinted plan examines: the changed ones (for a failure that takes no error
    branch) and what follows them."""
    focus = {node_id for node_id in changed if node_id in graph.nodes}
    for node_id in list(focus):
        focus.update(_successors(graph, node_id))
    return focus


def _index(graph: CompiledGraph) -> dict[str, int]:
    """Each node's position in the graph (computed once per graph)."""
    index = graph.__dict__.get("_index")
    if index is None:
        index = graph.__dict__["_index"] = {node_id: i for i, node_id in enumerate(graph.nodes)}
        graph.__dict__["_order"] = list(graph.nodes)
    return index


def _in_order(graph: CompiledGraph, nodes: set[str]) -> list[str]:
    """`nodes` in the graph's order, the order a full plan visits them in."""
    return sorted(nodes, key=_index(graph).__getitem__)


class _Pass:
    """One pass of a hinted plan over its focus, in the graph's order, as a full pass over
    every node would meet them (the first ready node is the one a worker claims): a node added
    to the focus during the pass is met in this pass if it comes later in the graph, in the
    next one otherwise, as in a full pass."""

    def __init__(self, graph: CompiledGraph, focus: set[str]) -> None:
        self.index = _index(graph)
        self.focus = focus
        self.nodes: list[str] = graph.__dict__["_order"]

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        heap = [self.index[node_id] for node_id in self.focus]
        heapq.heapify(heap)
        while heap:
            position = heapq.heappop(heap)
            node_id = self.nodes[position]
            if node_id in seen:
                continue
            seen.add(node_id)
            yield node_id
            for added in self.focus - seen:
                later = self.index[added]
                if later > position and later not in heap:
                    heapq.heappush(heap, later)


def plan(
    graph: CompiledGraph,
    steps: list[StepState],
    *,
    budgets: Budgets | None = None,
    usage: Usage | None = None,
    changed: Collection[str] | None = None,
) -> Plan:
    """Return what the run should do next.

    `changed` names the nodes whose steps changed since a plan whose ready and skipped nodes
    all got their steps (a chain step's own commit: the one step it finished). Then only what
    follows those nodes can have become ready or skipped, and only they can have failed, so
    planning looks at those alone instead of at every node: a 1,000-node chain plans in the
    same time at its end as at its start. The plan is the same either way."""
    state = RunState(graph, steps)
    result = Plan()
    # Only a run with no loop retried (every node at iteration 0) is planned from the hint.
    focus = _focus(graph, changed) if changed is not None and state.flat else None

    failure = _unrouted_failure(graph, state, focus)
    if failure is not None:
        result.outcome = Outcome(
            "failed",
            error_code=failure.error_code or "step_failed",
            error_message=failure.error_message or f'Step "{failure.node_id}" failed.',
            node_id=failure.node_id,
        )
        return result

    # Skips propagate within one plan: a skipped node can resolve its successors' edges.
    overlay: dict[str, StepState] = {}
    progress = True
    while progress:
        progress = False
        for node_id in graph.nodes if focus is None else _Pass(graph, focus):
            if node_id in overlay or state.current(node_id) is not None:
                continue
            edges = [e for e in graph.incoming.get(node_id, []) if e.id not in graph.retry_edges]
            verdicts = []
            for edge in edges:
                verdicts.append(_edge_state(state, edge))
                if verdicts[-1] == "pending":
                    break  # not ready: the other edges cannot change that
            if "pending" in verdicts:
                continue
            iteration = state.iteration(node_id)
            if edges and "taken" not in verdicts:
                overlay[node_id] = StepState(node_id, iteration, status="skipped")
                state.latest[(node_id, iteration)] = overlay[node_id]
                result.skipped.append((node_id, iteration))
                progress = True
                if focus is not None:
                    # What follows a skipped node may be resolved by the skip, in this plan.
                    focus.update(_successors(graph, node_id))
            else:
                overlay[node_id] = StepState(node_id, iteration, status="queued")
                result.ready.append((node_id, iteration))

    if state.flat:
        # Every node's current step is its step at iteration 0.
        nodes = graph.nodes
        statuses = {s.status for (n, i), s in state.latest.items() if i == 0 and n in nodes}
    else:
        statuses = {
            step.status for node_id in graph.nodes if (step := state.current(node_id)) is not None
        }
    active = not statuses.isdisjoint(ACTIVE)
    waiting = not statuses.isdisjoint(("waiting", "needs_attention"))
    result.active = active

    if result.ready:
        reason = _over_budget(budgets or Budgets(), usage or Usage())
        if reason is not None:
            result.ready = []
            result.outcome = Outcome("failed", error_code="budget_exceeded", error_message=reason)
        return result
    if active:
        return result
    if waiting:
        result.waiting = True
        return result

    reached, final = _result(graph, state)
    if reached:
        result.outcome = Outcome("succeeded", result=final)
    else:
        result.outcome = Outcome(
            "failed",
            error_code="no_output",
            error_message="The item's steps ended without reaching the region's last node."
            if graph.result_node is not None
            else "The flow ended without reaching an Output node.",
        )
    return result


def resolve_ports(
    graph: CompiledGraph, state: RunState, node_id: str, ports: list[str]
) -> list[str]:
    """Turn a node's retry port (an evaluator's "fail") into a loop retry while it has attempts
    left."""
    node = graph.nodes[node_id]
    retry_port = node.node_type.retry_port
    if retry_port is None or ports != [retry_port] or node_id not in graph.loop_bodies:
        return ports
    max_attempts = getattr(node.config, "max_attempts", 1)
    if state.retries.get(node_id, 0) + 1 < max_attempts:
        return [RETRY_PORT]
    return ports

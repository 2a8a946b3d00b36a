"""A plan from what one step changed (`plan(..., changed=...)`) is the plan from everything.

A chain step's commit plans from the one step it finished, instead of looking at every node
of the graph. These tests walk random graphs step by step, the way the services drive a run
(every ready node gets a queued step, every skipped one a skipped step, then one active step
finishes) and compare the hinted plan with the full one after every step.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from runs.engine.graph import compile_graph
from runs.engine.scheduler import ACTIVE, Plan, StepState, plan
from tests.runs.engine.graphs import edge, graph, node

TOOL = {"tool": "calculator", "arguments": {"expression": "1 + 1"}}


def random_graph(rng: random.Random, size: int) -> dict:
    """An input, `size` tool nodes each fed by 1–3 earlier nodes' `out` or `error` ports (so
    branches are taken and skipped, and joins wait), two outputs; listed in a shuffled order,
    since the order of the graph's nodes decides the order of ready ones."""
    ids = [f"t{i}" for i in range(size)]
    edges = []
    for i, target in enumerate(ids):
        earlier = ["start", *ids[:i]]
        for source in rng.sample(earlier, k=min(len(earlier), rng.randint(1, 3))):
            port = "out" if source == "start" else rng.choice(["out", "out", "error"])
            edges.append(edge(source, target, port=port))
    edges.append(edge(ids[-1], "end"))
    edges.append(edge(rng.choice(ids), "end2", port=rng.choice(["out", "error"])))
    nodes = [node("start", "input")]
    nodes += [node(i, "tool", **TOOL) for i in ids]
    nodes += [node("end", "output"), node("end2", "output")]
    rng.shuffle(nodes)
    return graph(nodes, edges)


def finish(rng: random.Random, step: StepState, outgoing_ports: set[str]) -> None:
    """The step ends as a node can: succeeded on `out`, failed down `error`, or failed with
    no branch taken (the run's failure)."""
    choice = rng.random()
    if choice < 0.7 or step.node_id == "start":
        step.status, step.ports, step.output = "succeeded", ["out"], {"n": step.node_id}
    elif choice < 0.95 and "error" in outgoing_ports:
        step.status, step.ports, step.output = "failed", ["error"], {"error": "boom"}
    else:
        step.status, step.ports, step.output = "failed", [], None


def same(hinted: Plan, full: Plan) -> None:
    assert hinted.ready == full.ready
    assert hinted.skipped == full.skipped
    assert hinted.outcome == full.outcome
    assert (hinted.waiting, hinted.active) == (full.waiting, full.active)


def walk(seed: int, size: int) -> int:
    rng = random.Random(seed)
    compiled = compile_graph(random_graph(rng, size))
    steps: list[StepState] = []
    decision = plan(compiled, steps)
    compared = 0
    while decision.outcome is None:
        for node_id, iteration in decision.skipped:
            steps.append(StepState(node_id, iteration, status="skipped"))
        for node_id, iteration in decision.ready:
            steps.append(StepState(node_id, iteration, status="queued"))
        active = [s for s in steps if s.status in ACTIVE]
        if not active:
            break
        step = rng.choice(active)
        ports = {e.source_port for e in compiled.outgoing.get(step.node_id, [])}
        finish(rng, step, ports)
        full = plan(compiled, steps)
        hinted = plan(compiled, steps, changed=[step.node_id])
        same(hinted, full)
        compared += 1
        decision = full
    return compared


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 14))
def test_a_plan_from_the_changed_step_is_the_full_plan(seed, size):
    walk(seed, size)


def test_the_walks_reach_branches_skips_joins_and_failures():
    """The comparison above covers what the hint must get right: across these walks, plans
    with skips (propagated down a branch), several ready nodes at once, and failures."""
    seen = {"skips": 0, "several_ready": 0, "failed": 0, "succeeded": 0}
    for seed in range(200):
        rng = random.Random(seed)
        compiled = compile_graph(random_graph(rng, 10))
        steps: list[StepState] = []
        decision = plan(compiled, steps)
        while decision.outcome is None:
            seen["skips"] += len(decision.skipped) > 1
            seen["several_ready"] += len(decision.ready) > 1
            steps += [StepState(n, i, status="skipped") for n, i in decision.skipped]
            steps += [StepState(n, i, status="queued") for n, i in decision.ready]
            active = [s for s in steps if s.status in ACTIVE]
            if not active:
                break
            step = rng.choice(active)
            finish(rng, step, {e.source_port for e in compiled.outgoing.get(step.node_id, [])})
            decision = plan(compiled, steps, changed=[step.node_id])
        if decision.outcome is not None:
            seen[decision.outcome.status] += 1
    assert all(count >= 10 for count in seen.values()), seen

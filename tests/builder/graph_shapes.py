"""Large graph shapes for the validation's scaling test and its benchmark (bench/validation.py).

Each builder takes a node and an edge count (the limits by default) and returns a document with
exactly that many nodes and edges, plus the number of errors it must produce.
"""

from collections.abc import Callable
from typing import Any

from builder.graph import MAX_EDGES, MAX_NODES

from .graphs import INPUT_SCHEMA, edge, node

Shape = Callable[[int, int], tuple[dict[str, Any], int]]


def _document(nodes: list[dict], edges: list[dict]) -> dict[str, Any]:
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


def _input() -> dict[str, Any]:
    return node("start", "input", {"schema": INPUT_SCHEMA})


def chain(n: int = MAX_NODES, e: int = MAX_EDGES) -> tuple[dict[str, Any], int]:
    """A chain of prompts each reading the one before, plus shortcuts from the Input.

    The nodes are listed last to first, so no check gets them in a helpful order.
    """
    nodes = [node("n0", "input", {})]
    for i in range(1, n - 1):
        nodes.append(node(f"n{i}", "prompt", {"prompt": f"{{{{ nodes.n{i - 1}.output }}}}"}))
    nodes.append(node(f"n{n - 1}", "output", {}))
    edges = [edge(f"e{i}", f"n{i}", f"n{i + 1}") for i in range(n - 1)]
    edges += [edge(f"x{i}", "n0", f"n{1 + i % (n - 1)}") for i in range(e - len(edges))]
    return _document(list(reversed(nodes)), edges), 0


def jinja_templates(n: int = MAX_NODES, e: int = MAX_EDGES) -> tuple[dict[str, Any], int]:
    """The chain, with templates only Jinja can read (tags and filters)."""
    document, expected = chain(n, e)
    for item in document["nodes"]:
        if item["type"] == "prompt":
            before = item["config"]["prompt"].removeprefix("{{ ").removesuffix(" }}")
            item["config"]["prompt"] = (
                f"{{% if feedback %}}Fix: {{{{ feedback }}}}{{% endif %}}{{{{ {before} | trim }}}}"
            )
    return document, expected


def fan_out(n: int = MAX_NODES, e: int = MAX_EDGES) -> tuple[dict[str, Any], int]:
    """One Input feeding every prompt, every prompt feeding one Output, each reading the Input."""
    width = n - 2
    prompts = [
        node(f"p{i}", "prompt", {"prompt": f"Part {i} of {{{{ inputs.question }}}}"})
        for i in range(width)
    ]
    summary = " ".join(f"{{{{ nodes.p{i}.output }}}}" for i in range(min(width, 200)))
    nodes = [_input(), *prompts, node("result", "output", {"value": summary})]
    edges = [edge(f"in{i}", "start", f"p{i}") for i in range(width)]
    edges += [edge(f"out{i}", f"p{i}", "result") for i in range(width)]
    edges += [edge(f"again{i}", "start", f"p{i % width}") for i in range(e - len(edges))]
    return _document(nodes, edges), 0


def _judge(i: int) -> dict[str, Any]:
    return {
        "target": f"{{{{ nodes.d{i}.output }}}}",
        "rules": [{"kind": "min_length", "value": 5}],
        "max_attempts": 3,
    }


def retry_loops(n: int = MAX_NODES, e: int = MAX_EDGES) -> tuple[dict[str, Any], int]:
    """A chain of draft → evaluator pairs, each evaluator retrying its draft on fail."""
    pairs = (n - 2) // 2
    nodes = [_input()]
    edges = [edge("e_start", "start", "d0")]
    for i in range(pairs):
        previous = f"{{{{ nodes.d{i - 1}.output }}}} " if i else ""
        nodes.append(node(f"d{i}", "prompt", {"prompt": f"{previous}{{{{ feedback }}}}"}))
        nodes.append(node(f"j{i}", "evaluator", _judge(i)))
        after = f"d{i + 1}" if i + 1 < pairs else "result"
        edges += [
            edge(f"d{i}_j{i}", f"d{i}", f"j{i}"),
            edge(f"j{i}_retry", f"j{i}", f"d{i}", "fail"),
            edge(f"j{i}_pass", f"j{i}", after, "pass"),
        ]
    nodes.append(node("result", "output", {}))
    for i in range(n - len(nodes)):
        nodes.append(node(f"pad{i}", "output", {}))
        edges.append(edge(f"pad{i}", "start", f"pad{i}"))
    edges += [edge(f"x{i}", "start", f"d{i % pairs}") for i in range(e - len(edges))]
    return _document(nodes, edges), 0


def many_errors(n: int = MAX_NODES, e: int = MAX_EDGES) -> tuple[dict[str, Any], int]:
    """A flow broken in every way at once, in blocks of nodes; returns the errors it must give.

    Blocks: unknown types, invalid configs, templates reading later nodes, an unbounded loop
    chain, orphans feeding a long cut-off chain, and edges to missing nodes. Every problem is
    reported on its own node or edge.
    """
    block = (n - 2) // 6
    nodes = [_input(), node("result", "output", {})]
    edges = [edge("e_main", "start", "result")]
    expected = 0
    # Unknown types, fed from the Input: one E002 each.
    for i in range(block):
        nodes.append(node(f"u{i}", "webhook", {}))
        edges.append(edge(f"u{i}", "start", f"u{i}"))
    expected += block
    # Invalid configs: one E003 each.
    for i in range(block):
        nodes.append(node(f"c{i}", "prompt", {"prompt": "x", "temperature": 9}))
        edges.append(edge(f"c{i}", "start", f"c{i}"))
    expected += block
    # A chain whose templates read the node after them: one E014 each.
    for i in range(block):
        nodes.append(node(f"t{i}", "prompt", {"prompt": f"{{{{ nodes.t{i + 1}.output }}}}"}))
        edges.append(edge(f"t{i}", "start" if i == 0 else f"t{i - 1}", f"t{i}"))
    expected += block  # the last one reads a node that does not exist: one E014 too
    # Two-node unbounded loops hanging off the Input: one E011 each.
    for i in range(block // 2):
        nodes += [
            node(f"la{i}", "prompt", {"prompt": "a"}),
            node(f"lb{i}", "prompt", {"prompt": "b"}),
        ]
        edges += [
            edge(f"la{i}", "start", f"la{i}"),
            edge(f"lab{i}", f"la{i}", f"lb{i}"),
            edge(f"lba{i}", f"lb{i}", f"la{i}"),
        ]
    expected += block // 2
    # Orphans all feeding the head of one cut-off chain: one E013 per orphan; the chain's
    # nodes are explained by them and not reported again.
    for i in range(block):
        nodes.append(node(f"o{i}", "prompt", {"prompt": "o"}))
    for i in range(block):
        nodes.append(node(f"k{i}", "prompt", {"prompt": "k"}))
        if i:
            edges.append(edge(f"k{i}", f"k{i - 1}", f"k{i}"))
    edges += [edge(f"o{i}", f"o{i}", "k0") for i in range(block)]
    expected += block
    # Pad to n nodes with ordinary nodes fed by the Input.
    for i in range(n - len(nodes)):
        nodes.append(node(f"pad{i}", "prompt", {"prompt": "p"}))
        edges.append(edge(f"pad{i}", "start", f"pad{i}"))
    # The rest of the edges are refused: to a missing node (E006) or from a missing port (E007).
    rest = e - len(edges)
    edges += [edge(f"ghost{i}", "start", f"ghost{i}") for i in range(rest // 2)]
    edges += [edge(f"port{i}", "start", f"c{i % block}", "nope") for i in range(rest - rest // 2)]
    expected += rest
    return _document(nodes, edges), expected


SHAPES: dict[str, Shape] = {
    "chain": chain,
    "jinja_templates": jinja_templates,
    "fan_out": fan_out,
    "retry_loops": retry_loops,
    "many_errors": many_errors,
}

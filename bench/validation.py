"""Graph validation at the limits (2,000 nodes, 5,000 edges), in milliseconds per validation.

    .venv/bin/python -m bench.validation               # every shape, 9 runs each
    .venv/bin/python -m bench.validation chain -n 21   # one shape, more runs

The shapes (tests/builder/graph_shapes.py): a long chain, the chain with templates only Jinja can
read, a wide fan-out, a chain of evaluator retry loops, and a flow broken in every way at once
(4,000+ errors). Each run validates the whole document, as the live-validation endpoint does,
garbage collection included. The Jinja shape is also timed cold: the parsed-template cache is
cleared before each run, as for a graph the server has not seen. No database is needed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench._harness import summary
from builder.graph import MAX_EDGES, MAX_NODES, validate_graph
from builder.graph.templates import clear_template_cache
from tests.builder.graph_shapes import SHAPES

BUDGET_MS = 100


def measure(
    validate: Callable[[Any], list], document: Any, runs: int, cold: bool
) -> tuple[list[float], list[float]]:
    """Return the wall-clock and CPU milliseconds of each of `runs` validations of `document`.

    CPU time (this thread's) is what the validation costs the process; it barely moves when other
    processes load the machine, which the wall clock does.
    """
    validate(document)  # warm up imports and lazily built validators
    wall, cpu = [], []
    for _ in range(runs):
        if cold:
            clear_template_cache()
        started, started_cpu = time.perf_counter(), time.thread_time()
        validate(document)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*", help=f"some of: {', '.join(SHAPES)}")
    parser.add_argument("-n", "--runs", type=int, default=9)
    args = parser.parse_args()
    if unknown := set(args.shapes) - set(SHAPES):
        parser.error(f"unknown shape(s): {', '.join(sorted(unknown))}")
    print(f"validate_graph, {MAX_NODES:,} nodes / {MAX_EDGES:,} edges, budget {BUDGET_MS} ms")
    worst = 0.0
    for name in args.shapes or SHAPES:
        document, expected = SHAPES[name]()
        errors = validate_graph(document)
        if len(errors) != expected:
            raise SystemExit(f"{name}: {len(errors)} errors, expected {expected}")
        for cold in (False, True) if name == "jinja_templates" else (False,):
            wall, cpu = measure(validate_graph, document, args.runs, cold)
            worst = max(worst, statistics.median(wall))
            label = f"{name} (cold)" if cold else name
            cpu_ms = statistics.median(cpu)
            print(f"  {label:<24} {len(errors):>5} errors  cpu median {cpu_ms:.1f} ms;", end="")
            print(f" wall {summary(wall, ' ms')}")
    verdict = "within" if worst <= BUDGET_MS else "OVER"
    print(f"worst wall median {worst:.1f} ms: {verdict} the {BUDGET_MS} ms budget")


if __name__ == "__main__":
    main()

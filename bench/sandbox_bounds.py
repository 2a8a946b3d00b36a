"""How fast a bad evaluation is stopped, and how long it holds up everything else meanwhile.

    .venv/bin/python -m bench.sandbox_bounds

For each bomb from the security report (templates, a ReDoS JSON Schema pattern, json_query
doubling) it runs the bomb on one thread while a second thread plays "another request": it
renders a small template every millisecond. It prints, in milliseconds:

- stopped: from the start of the evaluation until it failed with its reason;
- stall: the longest the other thread went without running (the GIL held by the bomb);
- other p99 / max: the latency of the other thread's small renders while the bomb ran.

Each figure is the median of three runs; the first row (plain Python busy for 1 s) shows how much
of the stall is the machine's own scheduling rather than the bomb.

"cancel" starts a spinning render (loop cap lifted, 60 s deadline) and sets its `stop_when`
flag after 200 ms: "stopped" is then the time from the flag to the end of the render.
No database, no network: the engine alone.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from runs.engine import schemas
from runs.engine.limits import stop_when
from runs.engine.sandbox import budget
from runs.engine.templates import TemplateRenderError, render
from runs.tools import ToolContext, ToolError, call_tool

DATA = {"inputs": {"q": "hi", "big": "a" * 1_000_000}, "nodes": {}, "feedback": "", "iteration": 0}
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def _template(text: str) -> Callable[[], None]:
    return lambda: render(text, DATA)


def _schema(schema: dict[str, Any], instance: Any) -> Callable[[], None]:
    return lambda: schemas.validation_errors(schema, instance)


def _query(expression: str) -> Callable[[], None]:
    def run() -> None:
        call_tool(
            "json_query",
            {"data": {"text": "x" * 16}, "expression": expression},
            context=ToolContext(),
        )

    return run


BOMBS: dict[str, Callable[[], None]] = {
    "template: nested range(100000) loops": _template(NESTED),
    "template: {{ 9**(9**7) }}": _template("{{ 9**(9**7) }}"),
    "template: {{ 'a'*10**8 }}": _template("{{ 'a'*10**8 }}"),
    "template: 'x'|center(10**9)": _template("{{ 'x'|center(10**9) }}"),
    "template: join of 17 x 1M refs": _template(
        "{{ [" + ", ".join(["inputs.big"] * 17) + "]|join }}"
    ),
    "template: a ~ a doubling": _template(
        "{% set a = inputs.big ~ inputs.big %}{% set b = a ~ a %}{% set c = b ~ b %}"
        "{% set d = c ~ c %}{% set e = d ~ d %}x"
    ),
    "schema: pattern ^(a|a)*$ on 28 a's + !": _schema(
        {"type": "string", "pattern": "^(a|a)*$"}, "a" * 28 + "!"
    ),
    "schema: pattern ^(a+)+$ on 28 a's + ! (the issue's)": _schema(
        {"type": "string", "pattern": "^(a+)+$"}, "a" * 28 + "!"
    ),
    "schema: $ref to http://127.0.0.1:9/": _schema({"$ref": "http://127.0.0.1:9/"}, 1),
    "json_query: 21 x {a:@,b:@}": _query(" | ".join(["{a: @, b: @}"] * 21)),
}


def _measure(bomb: Callable[[], None], *, cancel_after: float | None = None) -> dict[str, Any]:
    stop = threading.Event()
    gaps: list[float] = []
    latencies: list[float] = []

    def other_request() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            started = time.perf_counter()
            render("{{ inputs.q }} {{ [1, 2, 3]|sum }}", DATA)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    cancelled = threading.Event()
    outcome: dict[str, Any] = {}

    def evaluation() -> None:
        started = time.perf_counter()
        try:
            with stop_when(cancelled.is_set):
                bomb()
            outcome["reason"] = "(finished)"
        except (TemplateRenderError, schemas.SchemaCheckFailed, ToolError) as exc:
            outcome["reason"] = str(exc)
        outcome["ended"] = time.perf_counter()
        outcome["elapsed"] = outcome["ended"] - started

    other = threading.Thread(target=other_request)
    other.start()
    time.sleep(0.05)
    worker = threading.Thread(target=evaluation)
    worker.start()
    flagged = None
    if cancel_after is not None:
        time.sleep(cancel_after)
        flagged = time.perf_counter()
        cancelled.set()
    worker.join()
    stop.set()
    other.join()
    stopped = outcome["ended"] - flagged if flagged is not None else outcome["elapsed"]
    return {
        "stopped_ms": stopped * 1000,
        "stall_ms": max(gaps, default=0) * 1000,
        "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 2 else 0,
        "max_ms": max(latencies, default=0) * 1000,
        "reason": outcome["reason"],
    }


def _spin() -> None:
    """The baseline: plain Python busy for 1 s (shows the machine's own scheduling noise)."""
    end = time.perf_counter() + 1
    while time.perf_counter() < end:
        pass


def _median(bomb: Callable[[], None], repeat: int, **options: Any) -> dict[str, Any]:
    rows = [_measure(bomb, **options) for _ in range(repeat)]
    keys = ("stopped_ms", "stall_ms", "p99_ms", "max_ms")
    return {k: statistics.median(r[k] for r in rows) for k in keys} | {"reason": rows[0]["reason"]}


def main(repeat: int = 3) -> None:
    print(f"median of {repeat} runs, milliseconds")
    print(f"{'evaluation':<52} {'stopped':>9} {'stall':>7} {'p99':>6} {'max':>6}  reason")
    _print("baseline: plain Python loop for 1 s", _median(_spin, repeat))
    for name, bomb in BOMBS.items():
        _print(name, _median(bomb, repeat))
    saved = budget.MAX_LOOP_ITERATIONS, budget.RENDER_SECONDS
    budget.MAX_LOOP_ITERATIONS = 10**12
    try:
        _print(
            "template: nested loops, no loop cap (1 s deadline)", _median(_template(NESTED), repeat)
        )
        budget.RENDER_SECONDS = 60
        _print(
            "template: nested loops, cancel after 200 ms",
            _median(_template(NESTED), repeat, cancel_after=0.2),
        )
    finally:
        budget.MAX_LOOP_ITERATIONS, budget.RENDER_SECONDS = saved


def _print(name: str, row: dict[str, Any]) -> None:
    reason = row["reason"] if len(row["reason"]) <= 70 else row["reason"][:69] + "…"
    print(
        f"{name:<52} {row['stopped_ms']:>7.1f}ms {row['stall_ms']:>5.1f}ms "
        f"{row['p99_ms']:>4.1f}ms {row['max_ms']:>4.1f}ms  {reason}"
    )


if __name__ == "__main__":
    main()

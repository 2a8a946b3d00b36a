"""`make bench` / `python -m bench [name ...]`: run benchmarks one after another, each in its own
process (each configures Django for its own database), and print what they print.

With no names, the quick set that needs no services runs. `python -m bench --list` shows all.
Benchmarks that need PostgreSQL, Redis or LangGraph (the `bench` extra) say so when run.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = {
    "engine_overhead": "ms per step of a 100-node chain (tool and prompt), this engine alone",
    "map_overhead": "ms per map item (a 3-step child run), 50 items at concurrency 1 and 10",
    "validation": "graph validation at the limits (2,000 nodes / 5,000 edges)",
    "versus_langgraph": "100-node chain vs LangGraph, interleaved A/B, SQLite and PostgreSQL",
    "concurrent_runs": "500 runs x 5 prompt steps (embedded, Celery, LangGraph), fan-out 1-50-1",
    "sandbox_bounds": "how fast template, regex, $ref and json_query bombs are stopped",
    "burst": "1,000 run starts over HTTP: status counts, latency, peak connections",
    "recovery": "kill -9 the executing process; time until the lost step runs again",
    "recovery_soak": "50 SIGKILLs of Celery workers during 100 runs: lost/duplicated/stuck",
    "ws_latency": "commit to websocket client latency",
    "scale_check": "serve, run over the API, kill, approve: every event once and in order",
    "llm_overhead": "the model client's own overhead per call",
    "routing": "baseline and learned router decision time per call; learned vs baseline quality",
    "cost_cut": "always-strong vs auto routing + cascade + semantic cache over 1,076 requests",
    "canvas_first_render": "the canvas's first render of a 500-node flow in Chromium",
    "memory": "memory node vs full history: tokens per answer, recall with distractors",
    "retrieval": "recall@5 hybrid / vector / lexical with the local model; ingest and query speed",
}
QUICK = ["engine_overhead", "validation", "routing"]


def main(argv: list[str]) -> int:
    if "--list" in argv:
        for name, what in BENCHMARKS.items():
            print(f"{name:22s} {what}")
        return 0
    names = argv or QUICK
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}. Try --list.", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        print(f"== bench.{name}: {BENCHMARKS[name]}", flush=True)
        failed += subprocess.call([sys.executable, "-m", f"bench.{name}"]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Many runs at once against a slow model: Switchboard embedded, Switchboard on Celery, LangGraph.

    .venv/bin/pip install -e '.[bench]'                  # LangGraph and its savers (bench extra)
    .venv/bin/python -m bench.concurrent_runs            # 500 runs × 5 prompt steps, 200 ms model
    .venv/bin/python -m bench.concurrent_runs --runs 20 --steps 3 --fanout 10   # a smoke test
    .venv/bin/python -m bench.concurrent_runs --parts embedded,fanout   # no PostgreSQL/Redis

Every run is input → `--steps` prompt nodes → output. The model is the scripted server
(tests/llmserver.py) in a process of its own, answering every chat completion after `--latency`
seconds; its CPU is counted for nobody. Parts, each a child process configured for its database:

- embedded: daphne (SQLite in a temp dir, the embedded executor with `--threads` threads in the
  daphne process); the runs are started over HTTP (`POST /api/flows/{id}/runs`, a personal
  token, `--clients` client threads), as an integrator would;
- celery: daphne sending kicks + `--workers` Celery workers (`--pool threads`, `--concurrency`
  threads each) on PostgreSQL (`bench_concurrent`, re-created) and Redis (`--redis-url`, a queue
  of its own, purged afterwards); no beat (no sweeper: nothing here needs recovering); runs
  started over HTTP the same way;
- langgraph: the same runs as one asyncio program: `ainvoke(..., durability="sync")` with
  `AsyncPostgresSaver` on a psycopg pool of workers × concurrency connections (the connections
  the Celery deployment holds) and `openai.AsyncOpenAI`, streamed like Switchboard's prompts;
- starts: the run-start path alone: daphne in Celery mode (PostgreSQL + Redis) with no worker
  listening, `--runs` POSTs as above, daphne's CPU per accepted start; nothing executes (the
  kicks are purged afterwards);
- fanout: input → `--fanout` parallel prompt nodes → output, one run at a time in this process
  on SQLite (an `EmbeddedExecutor` set with `set_executor`), at the default thread count and at
  max(`--threads`, fan-out). The ideal is one model latency; the goal is ≤ 0.6 s.

Printed per part: finished (succeeded) runs, HTTP 5xx answers, connection errors, other
refusals, and 429s (retried after their Retry-After, as an integrator would), wall
seconds (first request sent → last run's `finished_at`), seconds to get all the 202s back, CPU
ms per prompt step (the user + system CPU of every Switchboard process — daphne, workers — or of
the LangGraph process, divided by runs × steps; the database servers' CPU is not counted), and
Switchboard's wall over LangGraph's. Each part warms up with one run first; it stops waiting
when no run has finished for 60 s (the rest count as unfinished).

Figures (2026-12-04, 3e44db7: broadcasts through channels_redis's pub/sub layer, one PUBLISH each,
where the list-based layer's group_send made two round trips on the group's members even with
none; celery part, 300 runs, alternating, load 2-6): workers' CPU per prompt step 6.8 ms on the
pub/sub layer (8.69 and 12.23 ms/step in all), 7.95-8.37 on the list-based layer (10.27 and
13.55 in all), 6.7-7.0 with no channel layer at all. 500 runs, celery and langgraph parts,
A/B against b07d546 in the order before, after, after, before (load 2.2-5.7, slowing: LangGraph
took 20.5 s in the first round and 28.6-30.9 s in the last two): before 10.34 ms/step (1.13×
LangGraph's wall), 11.81 (0.92×); after 8.76 (0.80×), 11.79 (0.91×). All 500/500, 0 5xx.

Figures (2026-12-04, d3ded1c: Twisted no longer parses form POST bodies (its Content-Type
parse through the `email` package was a sixth of daphne's event-loop time), the rate limits'
`incr` is one Redis round trip, the run's INSERT at start is bound like the step batches; A/B
against 5deb7d7 in the order before, after, after, before, load 6.4 falling to 3.8; wall, CPU
ms/step, × LangGraph's wall in the same run):

| side | embedded | celery | langgraph | starts (daphne CPU per start) |
|---|---|---|---|---|
| before | 18.17 s, 7.19 (0.78×) | 19.52 s, 9.54 (0.84×) | 23.16 s, 8.73 | 13.42 ms |
| after | 17.26 s, 6.79 (0.79×) | 23.68 s, 10.10 (1.09×) | 21.77 s, 8.16 | 10.08 ms |
| after | 15.73 s, 6.15 (0.65×) | 23.24 s, 11.04 (0.96×) | 24.24 s, 9.09 | 9.48 ms |
| before | 18.19 s, 7.07 (0.83×) | 23.77 s, 11.16 (1.08×) | 21.94 s, 8.24 | 11.38 ms |

Starts alone, 1,500 per round, ABBA (load 1.6-2.9): before 11.53, 10.99 ms; after 10.60, 10.78.
Embedded CPU per step -9% and run starts -5 to -20%; the Celery part did not move (its
workers' CPU is the model call and the step's commit, untouched here), and its wall was over
LangGraph's in two of the four rounds, both sides. All 500/500, 0 5xx.

Figures (2026-12-03 #4, 41639de: one kombu Redis client per broker channel instead of one per
publish and per ack, Django's thread-sensitive calls around a request on one kept thread
instead of a new thread per request; A/B against 1b50f5a on a new box, load 1.7-5.7; the
second line of each part prints CPU ms/step by process):

| side | embedded: wall, CPU ms/step (× LG) | celery (× LG) | langgraph: wall, CPU | starts |
|---|---|---|---|---|
| after | 20.2 s, 7.92 (0.75×) | 17.6 s, 8.38 (0.66×) | 26.8 s, 9.30 | 11.6 ms |
| before | 21.7 s, 8.50 (0.99×) | 23.2 s, 10.86 (1.06×) | 21.9 s, 8.25 | 11.7 ms |
| before | 20.4 s, 8.02 (0.78×) | 24.3 s, 11.77 (0.93×) | 26.1 s, 9.53 | 10.4 ms |
| after | 21.3 s, 7.99 (0.67×) | 28.6 s, 12.03 (0.90×) | 31.9 s, 10.20 | 10.2 ms |

Celery part alone, two more ABBA rounds (same box): after 7.58, 6.92, 10.86, 8.16 ms/step,
before 10.86, 10.24, 9.07, 8.92. Over the six rounds of each side the celery CPU per step has a
median of 8.27 after and 10.55 before (-22%). The same code's CPU moved by 40% from one round
to the next (and LangGraph's by 25%), so single rounds say little. Split of one after round:
daphne 2.00 ms per step (10 ms per start), each worker 3.19 (6.4 ms per step in all). A kick
alone (2,000 `kick_advance` calls on 4 threads, no HTTP): 1.03 → 0.75 ms of CPU. With Django's
per-request context, daphne had started and joined a thread for every request (32 of 39 threads
were new between two looks 3 s apart); none now. All 500/500, 0 5xx. LangGraph's own CPU per
step was 8.3-10.2 ms on this box: the 5 ms goal is under what LangGraph itself needs here.

Three more rounds of a3c03db alone after CI (load 0.1-4.0; wall and CPU ms/step, × LangGraph's
wall in the same run): embedded 18.65 s, 7.32 (0.82×); 17.23 s, 6.77 (0.72×); 19.79 s, 7.73
(1.02×); celery 21.00 s, 9.88 (0.93×); 19.74 s, 9.42 (0.83×); 18.41 s, 8.87 (0.95×);
LangGraph 22.6 s, 8.58; 23.9 s, 9.03; 19.4 s, 7.37. Fan-out 1 → 50 → 1 at 64 threads: 0.45,
0.48, 0.47 s (medians of 3). Embedded is one process, so its wall follows its CPU per step as
LangGraph's does: it only wins a round when its CPU per step, the HTTP start included, is
below LangGraph's.

Figures (2026-12-03 #3, uncapped starts lock no workspace row, step batches bound by hand;
celery and langgraph parts only, A/B against 201937e in the order before, after, after, before,
load 0.1-4.0; this box is slower again: LangGraph took 12-17 ms of CPU per step):

| side | celery: wall, 202s back, CPU ms/step (× LangGraph) | langgraph |
|---|---|---|
| before | 40.8 s, 38.3 s, 19.19 (1.30×) | 31.4 s |
| after | 35.9 s, 21.7 s, 18.04 (0.85×) | 42.4 s |
| after | 38.0 s, 26.8 s, 19.24 (0.81×) | 47.1 s |
| before | 45.1 s, 42.8 s, 22.14 (1.26×) | 35.8 s |

All 500/500, 0 5xx. The 202s come back 38-43 → 22-27 s sooner: with no cap every start had
waited on its workspace's row for the start before it to commit.

Figures (2026-12-03, a slower box: prepared reads, pooled web threads, one Redis client per
pool; interleaved A/B against fc4a9d4, Celery at 2 × 32 threads on both sides, 2 rounds, load
0.1-4.8; wall, CPU ms/step, × LangGraph's wall in the same run):

| round | side | embedded | celery | langgraph | starts |
|---|---|---|---|---|---|
| 1 | before | 25.1 s, 10.22 (1.14×) | 27.1 s, 12.88 (1.23×) | 22.0 s, 8.11 | 15.6 ms |
| 1 | after | 20.7 s, 8.13 (0.90×) | 23.6 s, 10.99 (1.03×) | 23.0 s, 8.09 | 10.6 ms |
| 2 | after | 19.2 s, 7.55 (1.12×) | 20.0 s, 9.31 (1.16×) | 17.2 s, 6.52 | 10.3 ms |
| 2 | before | 24.2 s, 9.83 (0.92×) | 30.0 s, 14.25 (1.13×) | 26.5 s, 9.69 | 16.0 ms |

All parts 500/500, 0 5xx. Celery at the old default of 2 × 16 threads (load 4-5): 30.3 s
against 21.6 s at 2 × 32.

Figures (2026-12-02 #5, h/conc: Django's middleware chain built sync under ASGI, one Redis
cache pool per process, a run start of 5 statements, coalesced broadcasts, the memory thread's
probe, 64 embedded threads; interleaved A/B against e805c6d, all parts in one run per side,
3 rounds; the box was shared with other sessions' test suites and profilers):

| round (load) | side | embedded: wall, CPU/step | celery: wall, CPU/step | langgraph | starts |
|---|---|---|---|---|---|
| 1 (4.7-12) | before | 33.6 s, 9.12 (0.67×) | 43.8 s, 12.52 (0.88×) | 50.0 s | 20.2 ms |
| 1 (7-14) | after | 31.5 s, 8.86 (0.49×) | 39.9 s, 12.28 (0.62×) | 64.8 s | 12.1 ms |
| 2 (8-15) | before | 48.5 s, 10.01 (0.53×) | 46.9 s, 11.93 (0.52×) | 91.0 s | 17.0 ms |
| 2 (8-10) | after | 28.1 s, 6.20 (0.55×) | 35.6 s, 8.33 (0.69×) | 51.3 s | 15.3 ms |
| 3 (1.3-3.8) | before | 20.9 s, 8.80 (1.45×) | 24.4 s, 12.86 (1.70×) | 14.4 s | 18.0 ms |
| 3 (2.6-3.2) | after | 18.1 s, 7.38 (**1.07×**) | 21.4 s, 9.70 (**1.27×**) | 16.9 s | 15.4 ms |

("starts": daphne's CPU per run start. In brackets: wall over LangGraph's in the same run.)
All parts finished 500/500 with 0 5xx on both sides. The same code before, alone on the box at
the session's start (load 2.9-5.8): embedded 15.3 s, 5.18 ms/step (0.96×); celery 21.7 s,
7.46 ms/step (1.37×); LangGraph 15.9 s, 4.14 ms: the CPU figures move with the load as much
as with the code, which is why only same-round pairs compare. At load 7-15 LangGraph's single
asyncio process is starved more than Switchboard's several (its wall went from 14 s to 91 s),
so only round 3's ratios mean anything. A first A/B of the embedded and starts parts alone
(2 rounds, load 6.9-13): embedded CPU 7.44, 8.24 → 6.03, 5.65 ms/step; starts 11.9, 13.2 →
9.4, 7.1 ms. Fan-out 1 → 50 → 1 at load 3: 0.60 s median at 32 threads (the old default; two waves),
0.36 s at 64 on both sides; at load 7-9, 10 runs per count: 32 → 0.54/0.61, 50 → 0.58/0.43,
64 → 0.62/0.50, 96 → 0.62/0.46 s (CPU-bound there, the thread count hardly matters). The
500 × 5 part at 32 and 64 threads (load 7-12, 2 rounds): 33.8/34.0 s against 38.9/36.2 s,
CPU 7.6/6.9 against 7.7/7.5 ms/step. The default is now 64: one wave for a 50-wide fan-out
whenever the box has the CPU, at a small cost in throughput when it has not.

Where the CPU went (py-spy --gil on daphne under the bench): about a dozen thread hand-offs per
request between the event loop and `MiddlewareMixin`s (WhiteNoise is sync-only, so Django
built the chain half async), a new Redis connection per request (Django's cache object is per
thread; redis-py read its package metadata for each), redis-py's `inspect.signature` check on
every `SET`, a second read of the membership, an UPDATE of `last_seq` after the run's insert,
and per finished run an ORM query plus a SQLite reconnect on the memory thread. What is left
in daphne: the ORM's SQL compilation of the token, flow and version reads (about a third of a
start), django-ratelimit's 6 Redis round trips, kombu's publish. In the Celery workers: the
client-side binding of the step's deferred statements (`statements._bind` → psycopg
`mogrify`, about 15% of a worker's samples), the openai SDK's request building, Django's ORM.

Figures (2026-12-02, h/conc: SQLite writers of one process queue on a lock instead of
sleeping in SQLite's busy handler, lock-free SDK client cache; A/B against the commit before,
interleaved, 2 rounds each, load average 0.4–1.8 before, embedded and langgraph parts only):

| part | before (2 rounds) | after (2 rounds) |
|---|---|---|
| embedded wall | 29.4, 28.8 s (1.56×, 1.55× LangGraph) | 29.0, 26.6 s (1.27×, 1.32× LangGraph) |
| embedded CPU ms/step | 12.3, 12.2 | 12.2, 11.2 |
| POST max / p50 | 9.8 s / 145 ms, 7.6 s / 132 ms | 1.3 s / 536 ms, 1.5 s / 505 ms |
| langgraph wall (same run) | 18.9, 18.6 s | 22.8, 20.2 s |

The embedded part stays CPU-bound (the ratio moved with LangGraph's noise, not ours): the lock
only removes waiting. Fan-out 1 → 50 → 1, 10 runs each side interleaved in one shell loop,
load average 1.0–1.2: 64 threads median 1.08 s (max 1.68, 0/10 ≤ 0.6 s) before, 0.46 s (max
0.74, 7/10 ≤ 0.6 s) after; 32 threads 0.93 s before, 0.62 s after (0/10 ≤ 0.6 s: 32 threads
run 50 branches in two waves, so 0.6 s is their floor). Why 64 threads was the slower: more
writers waiting meant longer sleeps in SQLite's busy handler (its back-off grows to 100 ms
per try), not more work. What is left of the fan-out's CPU is mostly per-step reloads of all
the run's steps (each of the 50 completions plans from all 52 rows: quadratic in the width).

Figures (2026-12-02, engine at 0f19478: kept SQL and raw streamed chunks; 2 shared cores, load
average 1.9–2.4; LangGraph 1.2.24; run-start limits raised as below):

| part | finished | 5xx | wall | CPU ms/step | wall / LangGraph |
|---|---|---|---|---|---|
| embedded (64 threads, SQLite) | 500/500 | 0 | 18.9 s (202s back in 11.2 s) | 7.7 | 1.36× |
| celery (2 × 16 threads, PostgreSQL) | 500/500 | 0 | 25.3 s (202s back in 15.7 s) | 11.9 | 1.82× |
| langgraph (asyncio, pool of 32) | 500/500 | — | 13.9 s | 5.2 | 1× |

Fan-out 1 → 50 → 1 (embedded, SQLite): 0.55 s at 32 threads, 0.87 s at 64 (medians of 3).

The same at 549ec3a (kept SQL only; load average 2–3):

| part | finished | 5xx | wall | CPU ms/step | wall / LangGraph |
|---|---|---|---|---|---|
| embedded (64 threads, SQLite) | 500/500 | 0 | 28.3 s (202s back in 18.4 s) | 11.9 | 1.88× |
| celery (2 × 16 threads, PostgreSQL) | 500/500 | 0 | 35.2 s (202s back in 20.2 s) | 17.3 | 2.33× |
| langgraph (asyncio, pool of 32) | 500/500 | — | 15.1 s | 5.7 | 1× |

Fan-out 1 → 50 → 1 (embedded, SQLite): 0.86 s at 32 threads, 1.06 s at 64 (medians of 3).

Earlier figures (2026-12-01, engine at 57e7ea7, 2 shared cores; load average 1.6 before, 6–8.5
during: the benchmark's own processes, the model server and other engineers' tests):

| part | finished | 5xx | wall | CPU ms/step | wall / LangGraph |
|---|---|---|---|---|---|
| embedded (64 threads, SQLite) | 500/500 | 0 | 29.7 s (202s back in 23.0 s) | 10.9 | 1.39× |
| celery (2 × 16 threads, PostgreSQL) | 500/500 | 0 | 37.4 s (202s back in 24.8 s) | 15.3 | 1.76× |
| langgraph (asyncio, pool of 32) | 500/500 | — | 21.3 s | 7.1 | 1× |

Fan-out 1 → 50 → 1 (embedded, SQLite): 1.65 s at the default 8 threads, 1.12 s at 64 threads
(runs of 1.01–2.40 s): the ≤ 0.6 s goal is not met. Every part is CPU-bound on two cores: 2,500
model latencies of 0.2 s overlap almost entirely, so the wall is the CPU of the engine, the
database and the model server. At 32 threads per worker, the celery part exhausted
PostgreSQL's 100 connections shared with other tests (5xx and lost kicks, no sweeper here).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypedDict

from ._measure import ModelServer, cpu_seconds, load_average, postgres_recreate, start_run
from .versus_langgraph import chain_graph

RESULT = "RESULT "


# ---- the parent --------------------------------------------------------------------------------


def parent(args: argparse.Namespace) -> None:
    print(
        f"concurrent_runs: {args.runs} runs × {args.steps} prompt steps, {args.latency * 1000:.0f}"
        f" ms model; fan-out 1 → {args.fanout} → 1"
    )
    print(f"before: {load_average()}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    with ModelServer(latency=args.latency) as model:
        for part in args.parts.split(","):
            env = part_env(part, args, model.base_url)
            argv = [sys.executable, "-m", "bench.concurrent_runs", *sys.argv[1:], "--child", part]
            model_cpu = cpu_seconds(model.pid)
            child = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True, check=False)
            for line in child.stdout.splitlines():
                if line.startswith(RESULT):
                    results[part] = json.loads(line[len(RESULT) :])
                else:
                    print(line, flush=True)
            if part in results:
                # It shares the two cores with the measured processes: show what it took.
                results[part]["model_cpu"] = cpu_seconds(model.pid) - model_cpu
            if child.returncode:
                print(f"!! part {part} exited {child.returncode}", flush=True)
    summary(results, args)
    print(f"after: {load_average()}")


def part_env(part: str, args: argparse.Namespace, model_url: str) -> dict[str, str]:
    data_dir = tempfile.mkdtemp(prefix=f"bench-concurrent-{part}-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SWITCHBOARD_DATA_DIR": data_dir,
        "SWITCHBOARD_NO_LOCAL_LLM": "1",
        "SWITCHBOARD_DEFAULT_MODEL": "openai/gpt-4o-mini",
        "OPENAI_BASE_URL": model_url,
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # Throughput, not policy: one integrator's token starts all 500 runs, which the
        # per-user limits (60 run starts a minute) and the workspace's running-runs cap (20)
        # would pace on purpose. An operator sizing for this load raises them the same way.
        "SWITCHBOARD_RATE_RUN_STARTS": "100000/m",
        "SWITCHBOARD_RATE_WRITES": "100000/m",
        "SWITCHBOARD_MAX_RUNNING_RUNS": "0",
    }
    env.pop("DATABASE_URL", None)
    if part in ("celery", "starts"):
        env.update(
            DATABASE_URL=postgres_recreate(args.postgres_url, "bench_concurrent"),
            REDIS_URL=args.redis_url,
            SWITCHBOARD_EXECUTOR="celery",
            SWITCHBOARD_CELERY_QUEUE=f"bench-concurrent-{uuid.uuid4().hex[:8]}",
        )
    elif part == "langgraph":
        env["LANGGRAPH_DATABASE_URL"] = postgres_recreate(args.postgres_url, "bench_concurrent_lg")
    else:
        env.update(
            SQLITE_PATH=os.path.join(data_dir, "switchboard.sqlite3"),
            REDIS_URL="",
            SWITCHBOARD_EXECUTOR="embedded",
        )
        if part == "embedded":  # fan-out measures the default thread count too
            env["SWITCHBOARD_EMBEDDED_THREADS"] = str(args.threads)
    return env


def summary(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\n== summary: {args.runs} runs × {args.steps} prompt steps, {args.latency}s model")
    baseline = results.get("langgraph", {}).get("wall")
    for part in ("embedded", "celery", "langgraph"):
        result = results.get(part)
        if result is None:
            continue
        ratio = f"{result['wall'] / baseline:.2f}× LangGraph's wall" if baseline else "no baseline"
        http = (
            f"{result['http_5xx']} 5xx, {result['http_errors']} connection errors, "
            f"{result['http_other']} other refusals, {result['http_429']} 429s (retried), "
            f"202s back in {result['start_seconds']:.2f} s; "
            if part != "langgraph"
            else "started in-process; "
        )
        print(
            f"   {part:<10} {result['finished']}/{args.runs} finished, {http}"
            f"wall {result['wall']:.2f} s, CPU {result['cpu_ms_per_step']:.2f} ms/step; "
            f"{ratio}   [{result['setup']}; the model server used {result['model_cpu']:.1f} s CPU]"
        )
    starts = results.get("starts")
    if starts:
        print(
            f"   starts     {starts['accepted']}/{args.runs} accepted, {starts['http_5xx']} 5xx, "
            f"in {starts['start_seconds']:.2f} s; daphne CPU {starts['cpu_ms_per_start']:.2f} ms "
            f"per run start   [{starts['setup']}]"
        )
    fanout = results.get("fanout")
    if fanout:
        for threads, walls in fanout["walls"].items():
            print(
                f"   fan-out 1 → {args.fanout} → 1, {threads} threads: "
                f"{statistics.median(walls):.2f} s median of {len(walls)} "
                f"({', '.join(f'{w:.2f}' for w in walls)}); "
                f"ideal {args.latency:.2f} s, goal ≤ 0.6 s"
            )


# ---- Switchboard over HTTP ----------------------------------------------------------------------


def switchboard_part(part: str, args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.runs.support import Daphne

    user, flow = bench_flow(chain_graph("prompt", args.steps))
    from workspaces.models import ApiToken

    token = ApiToken.issue(user=user, name="bench")[1]
    env = dict(os.environ)
    services = [Daphne(env).start()]
    try:
        if part == "starts":
            setup = "daphne sending kicks to no worker, PostgreSQL + Redis"
        elif part == "celery":
            check_connections(args)
            services += start_workers(env, args)
            setup = (
                f"daphne + {args.workers} Celery workers × {args.concurrency} threads, "
                f"PostgreSQL + Redis"
            )
        else:
            setup = f"daphne, embedded executor × {args.threads} threads, SQLite"
        base = services[0].http
        status, _, warm, _ = post_run(base, flow.pk, token)
        if warm is None or (part != "starts" and not wait_finished([warm], timeout=60)):
            raise SystemExit(f"the warm-up run did not start or finish (HTTP {status})")
        pids = [service.pid for service in services]
        cpu_before = [cpu_seconds(pid) for pid in pids]
        t0 = datetime.now(UTC)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            answers = list(pool.map(lambda _: post_run(base, flow.pk, token), range(args.runs)))
        start_seconds = time.perf_counter() - started
        run_ids = [run_id for _, _, run_id, _ in answers if run_id is not None]
        cpu = sum(cpu_seconds(pid) for pid in pids) - sum(cpu_before)
        if part == "starts":
            return starts_result(answers, cpu, start_seconds, setup)
        finished = wait_finished(run_ids, timeout=args.timeout)
        each = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
        cpu = sum(each)
    finally:
        for service in reversed(services):
            service.stop()
        if part in ("celery", "starts"):
            purge_queue(args.redis_url, os.environ["SWITCHBOARD_CELERY_QUEUE"])
    succeeded = [run for run in finished if run["status"] == "succeeded"]
    last = max((run["finished_at"] for run in finished if run["finished_at"]), default=None)
    wall = (last - t0).total_seconds() if last else float("nan")
    statuses = [status for status, _, _, _ in answers]
    latencies = sorted(latency for _, latency, _, _ in answers)
    print(
        f"-- {part}: {len(succeeded)}/{args.runs} succeeded "
        f"({len(finished) - len(succeeded)} ended otherwise, "
        f"{args.runs - len(finished)} unfinished)"
        f"; POST p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; {setup}"
    )
    steps = max(1, len(succeeded) * args.steps)
    shares = [f"{seconds * 1000 / steps:.2f}" for seconds in each]
    workers = f"; workers {', '.join(shares[1:])}" if len(shares) > 1 else ""
    print(f"   CPU ms/step by process: daphne {shares[0]}{workers}")
    return {
        "finished": len(succeeded),
        "http_5xx": sum(1 for status in statuses if status >= 500),
        "http_errors": sum(1 for status in statuses if status == 0),
        "http_429": sum(refused for _, _, _, refused in answers),
        "http_other": sum(1 for status in statuses if 0 < status < 500 and status != 202),
        "wall": wall,
        "start_seconds": start_seconds,
        "cpu_ms_per_step": cpu * 1000 / max(1, len(succeeded) * args.steps),
        "setup": setup,
    }


def starts_result(
    answers: list[tuple[int, float, int | None, int]], cpu: float, seconds: float, setup: str
) -> dict[str, Any]:
    """The run-start path alone: daphne's CPU per accepted POST, nothing executed."""
    accepted = sum(1 for status, _, _, _ in answers if status == 202)
    latencies = sorted(latency for _, latency, _, _ in answers)
    print(
        f"-- starts: {accepted}/{len(answers)} accepted in {seconds:.2f} s; POST p50 "
        f"{latencies[len(latencies) // 2] * 1000:.0f} ms; {setup}"
    )
    return {
        "accepted": accepted,
        "http_5xx": sum(1 for status, _, _, _ in answers if status >= 500),
        "start_seconds": seconds,
        "cpu_ms_per_start": cpu * 1000 / max(1, accepted),
        "setup": setup,
    }


def bench_flow(graph: dict[str, Any]) -> tuple[Any, Any]:
    """A user owning a workspace and a published flow of `graph`."""
    from django.contrib.auth import get_user_model

    from builder.services import flow_create, flow_publish
    from workspaces.services import workspace_create

    user = get_user_model().objects.create_user("bench", password="bench-pw-123")
    workspace = workspace_create(name="Bench", slug="bench", owner=user)
    flow = flow_create(user=user, workspace_id=workspace.pk, name="Bench", graph=graph)
    flow_publish(flow=flow, user=user)
    return user, flow


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post_run(base: str, flow_id: int, token: str) -> tuple[int, float, int | None, int]:
    """Start a run over the API as a polite integrator: a 429 is retried after its
    Retry-After. Returns (the last HTTP status, 0 for no answer; seconds; run id; 429s)."""
    request = urllib.request.Request(
        f"{base}/api/flows/{flow_id}/runs",
        data=json.dumps({"inputs": {}}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started, refused = time.perf_counter(), 0
    while True:
        try:
            with _OPENER.open(request, timeout=300) as response:
                run_id = json.loads(response.read())["id"]
                return response.status, time.perf_counter() - started, run_id, refused
        except urllib.error.HTTPError as exc:
            if exc.code != 429 or refused >= 10:
                return exc.code, time.perf_counter() - started, None, refused
            refused += 1
            time.sleep(float(exc.headers.get("Retry-After") or 1))
        except OSError:
            return 0, time.perf_counter() - started, None, refused


def wait_finished(run_ids: list[int], timeout: float, stall: float = 60) -> list[dict[str, Any]]:
    """Poll until every run has finished, `timeout` passed, or none finished for `stall`
    seconds (a lost kick waits for the sweeper, which the celery part does not run); return
    the finished ones."""
    from runs.models import FINISHED_RUN_STATUSES, Run

    now = time.monotonic()
    deadline, progress, seen = now + timeout, now, -1
    while True:
        rows = list(
            Run.objects.filter(pk__in=run_ids, status__in=FINISHED_RUN_STATUSES).values(
                "status", "finished_at"
            )
        )
        now = time.monotonic()
        if len(rows) != seen:
            seen, progress = len(rows), now
        if len(rows) == len(run_ids) or now > deadline or now - progress > stall:
            return rows
        time.sleep(0.25)


def check_connections(args: argparse.Namespace) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int, count(*) FROM pg_stat_activity"
        )
        most, used = cursor.fetchone()
    wanted = args.workers * args.concurrency + 10
    if most - used < wanted:
        print(f"!! PostgreSQL has {most - used} free connections; this part may need {wanted}")


def start_workers(env: dict[str, str], args: argparse.Namespace) -> list[Any]:
    from tests.runs.support import VENV_BIN, Service

    queue = env["SWITCHBOARD_CELERY_QUEUE"]
    workers = []
    for index in range(args.workers):
        argv = [str(VENV_BIN / "celery"), "-A", "config", "worker", "--pool", "threads",
                "--concurrency", str(args.concurrency), "-Q", queue, "--without-gossip",
                "--without-mingle", "--without-heartbeat", "-n", f"w{index}-{queue}@%h",
                "-l", "info"]  # fmt: skip
        workers.append(Service(f"bench-worker-{index}", argv, env).start())
    for worker in workers:
        worker.wait_for_output("ready.", timeout=60)
    return workers


def purge_queue(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"*{queue}*"):
        client.delete(key)


# ---- fan-out, in this process -------------------------------------------------------------------


def fanout_part(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from runs.executor import EmbeddedExecutor, set_executor
    from runs.models import Run

    call_command("migrate", verbosity=0)
    user, flow = bench_flow(fanout_graph(args.fanout))
    walls: dict[str, list[float]] = {}
    for threads in sorted({settings.SWITCHBOARD_EMBEDDED_THREADS, max(args.threads, args.fanout)}):
        executor = EmbeddedExecutor(threads=threads)
        set_executor(executor)
        samples = []
        for attempt in range(args.fanout_runs + 1):
            started = time.perf_counter()
            run = start_run(user=user, flow=flow, inputs={})
            executor.wait_idle(timeout=args.timeout)
            wall = time.perf_counter() - started
            run = Run.objects.get(pk=run.pk)
            if run.status != "succeeded":
                raise SystemExit(f"fan-out run ended {run.status}: {run.error_message}")
            if attempt:  # the first one warms up
                samples.append(wall)
        executor.stop()
        set_executor(None)
        walls[str(threads)] = samples
        print(
            f"-- fanout 1 → {args.fanout} → 1 ({threads} threads, SQLite, in-process): "
            f"{', '.join(f'{w:.2f}' for w in samples)} s",
            flush=True,
        )
    return {"walls": walls}


def fanout_graph(width: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "input", "position": {"x": 0, "y": 0},
         "config": {"schema": {"type": "object", "properties": {}}}},
        {"id": "end", "type": "output", "position": {"x": 400, "y": 0}, "config": {}},
    ]  # fmt: skip
    edges = []
    for i in range(width):
        nodes.append(
            {"id": f"f{i}", "type": "prompt", "position": {"x": 200, "y": 80 * i},
             "config": {"prompt": f"Branch {i}", "max_tokens": 16}}
        )  # fmt: skip
        edges += [
            {"id": f"a{i}", "source": "start", "source_port": "out", "target": f"f{i}",
             "target_port": "in"},
            {"id": f"b{i}", "source": f"f{i}", "source_port": "out", "target": "end",
             "target_port": "in"},
        ]  # fmt: skip
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


# ---- LangGraph -----------------------------------------------------------------------------------


class ChainState(TypedDict):
    n: float
    text: str


def langgraph_part(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_langgraph(args))


async def _langgraph(args: argparse.Namespace) -> dict[str, Any]:
    import openai
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    client = openai.AsyncOpenAI(
        base_url=os.environ["OPENAI_BASE_URL"],
        api_key=os.environ["OPENAI_API_KEY"],
        max_retries=0,
        timeout=60.0,
    )
    size = args.workers * args.concurrency
    pool = AsyncConnectionPool(
        os.environ["LANGGRAPH_DATABASE_URL"],
        max_size=size,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True)
    try:
        saver = AsyncPostgresSaver(conn=pool)
        await saver.setup()
        graph = langgraph_chain(args.steps, saver, client)

        async def one(index: int) -> None:
            config = {
                "configurable": {"thread_id": f"{index}-{uuid.uuid4().hex}"},
                "recursion_limit": args.steps + 12,
            }
            await graph.ainvoke({"n": 0, "text": ""}, config, durability="sync")

        await one(-1)
        cpu_before, started = time.process_time(), time.perf_counter()
        outcomes = await asyncio.gather(*(one(i) for i in range(args.runs)), return_exceptions=True)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    finally:
        await pool.close()
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    finished = len(outcomes) - len(failures)
    setup = f"asyncio, AsyncPostgresSaver on a pool of {size}, AsyncOpenAI"
    print(f"-- langgraph: {finished}/{args.runs} finished; {setup}")
    for failure in failures[:3]:
        print(f"   failure: {failure!r}"[:300])
    return {
        "finished": finished,
        "http_5xx": 0,
        "http_errors": 0,
        "http_429": 0,
        "http_other": 0,
        "wall": wall,
        "start_seconds": 0.0,
        "cpu_ms_per_step": cpu * 1000 / max(1, finished * args.steps),
        "setup": setup,
    }


def langgraph_chain(length: int, saver: Any, client: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    def prompt_node(i: int) -> Any:
        async def step(state: ChainState) -> dict[str, Any]:
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Step {i}"}],
                temperature=0.7,
                max_tokens=16,
                stream=True,
                stream_options={"include_usage": True},
            )
            parts = []
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        parts.append(chunk.choices[0].delta.content)
            return {"text": "".join(parts)}

        return step

    async def start(state: ChainState) -> dict[str, Any]:
        return {"n": state["n"]}

    async def end(state: ChainState) -> dict[str, Any]:
        return {"text": state["text"]}

    builder = StateGraph(ChainState)
    builder.add_node("start", start)
    builder.add_node("end", end)
    names = ["start", *(f"n{i}" for i in range(length)), "end"]
    for i in range(length):
        builder.add_node(f"n{i}", prompt_node(i))
    builder.add_edge(START, "start")
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge("end", END)
    return builder.compile(checkpointer=saver)


# ---- entry point ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--steps", type=int, default=5, help="prompt steps per run")
    parser.add_argument("--latency", type=float, default=0.2, help="model latency, seconds")
    parser.add_argument("--parts", default="embedded,celery,langgraph,starts,fanout")
    parser.add_argument("--threads", type=int, default=64, help="embedded executor threads")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="threads per Celery worker, 32 as `make worker` runs them (each holds a PostgreSQL "
        "connection: mind max_connections)",
    )
    parser.add_argument("--clients", type=int, default=16, help="HTTP client threads")
    parser.add_argument("--fanout", type=int, default=50, help="parallel branches")
    parser.add_argument("--fanout-runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for runs")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child:
        parent(args)
        return
    if args.child == "langgraph":
        result = langgraph_part(args)
    elif args.child == "fanout":
        result = fanout_part(args)
    else:
        result = switchboard_part(args.child, args)
    print(f"   ({load_average()})")
    print(RESULT + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

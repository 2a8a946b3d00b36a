"""A burst of run starts at one daphne (embedded executor): status counts, latency, and the peak
number of PostgreSQL connections it holds.

    .venv/bin/python -m bench.burst [--requests 1000] [--concurrency 300]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.burst \\
        [--pool-max 20] [--pool-timeout 10]

Every request is `POST /api/flows/{id}/runs` with a token, on the draft of a three-step flow
(input → calculator → output, no model call). The first `--concurrency` requests leave at once,
the rest as answers come back. Expected: only 202 and 429 (with Retry-After), and on PostgreSQL
never more server connections than the pool's maximum. It then waits for every accepted run to
finish and says how long that took.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import Counter

from . import _harness
from ._harness import setup, wait

APP_NAME = "switchboard-bench-burst"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--pool-max", default="20", help="DB_POOL_MAX of the server")
    parser.add_argument("--pool-timeout", default="10", help="DB_POOL_TIMEOUT of the server")
    parser.add_argument("--busy-timeout", default="20", help="SQLITE_BUSY_TIMEOUT of the server")
    parser.add_argument(
        "--run-rate",
        default="100000/m",
        help="SWITCHBOARD_RATE_RUN_STARTS of the server (the default keeps it out of the way)",
    )
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the runs")
    args = parser.parse_args()
    # A database of its own (dropped and re-created), not the one the other benchmarks share.
    _harness.BENCH_DB = "switchboard_bench_burst"
    env = setup("embedded")

    from django.db import connection

    from builder.models import Flow
    from runs.models import Run
    from tests.burst import BURST_GRAPH, BurstDaphne, ConnectionSampler, fire, report
    from tests.runs.support import database_env, embedded_env
    from workspaces.models import Workspace

    flow = Flow.objects.create(
        workspace=Workspace.objects.get(slug="demo"), name="Burst", graph=BURST_GRAPH
    )
    server = BurstDaphne(
        embedded_env(
            env["llm"].base_url,
            SWITCHBOARD_SWEEP_SECONDS="3600",
            DB_POOL_MAX=args.pool_max,
            DB_POOL_TIMEOUT=args.pool_timeout,
            SQLITE_BUSY_TIMEOUT=args.busy_timeout,
            SWITCHBOARD_RATE_RUN_STARTS=args.run_rate,
            SWITCHBOARD_RATE_WRITES="100000/m",
            PGAPPNAME=APP_NAME,
            LOG_LEVEL="ERROR",
        )
    ).start()
    postgres = connection.vendor == "postgresql"
    sampler = (
        ConnectionSampler(database_env()["DATABASE_URL"], APP_NAME)
        if postgres
        else contextlib.nullcontext()
    )
    try:
        url = f"{server.http}/api/flows/{flow.pk}/runs"
        started = time.monotonic()
        with sampler as pg:
            answers = fire(
                url,
                env["token"],
                {"use_draft": True, "inputs": {"n": 21}},
                count=args.requests,
                concurrency=args.concurrency,
            )
        elapsed = time.monotonic() - started
        print(
            f"{connection.vendor}, {args.requests} requests, {args.concurrency} at once, "
            f"{elapsed:.1f} s: {report(answers)}"
        )
        missing_retry = sum(1 for a in answers if a.status == 429 and not a.retry_after)
        if missing_retry:
            print(f"  {missing_retry} answers 429 without Retry-After")
        if postgres:
            print(
                f"  peak connections: server {pg.peak_app} (pool max {args.pool_max}), "
                f"whole database {pg.peak_total}"
            )
        accepted = [a.run_id for a in answers if a.status == 202]
        runs = Run.objects.filter(pk__in=accepted)
        print(f"  accepted {len(accepted)}, stored {runs.count()}")
        try:
            wait(
                lambda: runs.filter(status="succeeded").count() == len(accepted), timeout=args.wait
            )
            print(f"  all accepted runs succeeded {time.monotonic() - started:.1f} s after start")
        except TimeoutError:
            statuses = Counter(runs.values_list("status", flat=True))
            print(f"  accepted runs not all finished after {args.wait:.0f} s: {dict(statuses)}")
    finally:
        server.stop()
        env["llm"].stop()


if __name__ == "__main__":
    main()

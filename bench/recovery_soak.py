"""Recovery soak: SIGKILL random Celery workers while runs are in flight, then count the damage.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python -m bench.recovery_soak [--runs 100] [--kills 50] [--workers 2]
    ... --concurrency 2 --prefetch 4   # workers that reserve kicks they cannot start yet
    ... --runs 500 --kills 0            # a backlog without kills: how many re-kicks does it cost?

Two workers (threads pool) and beat (with the sweeper) run against a fresh database (`--db`,
dropped and re-created next to DATABASE_URL) and the scripted model server. Runs alternate
"Support triage" (a 2 s model call in its second step) and "Trip budget" (a fan-out, then a 1 s
model call). Before each kill two more runs start; after a random 0.5–2.5 s a random worker is
killed with SIGKILL and a replacement started (the next kill waits until it is ready). The
defaults are the production ones: lease 6 s, sweep every 2 s, re-kick after 5 s.

It prints:

- lost: steps in flight on a killed worker that never got a next attempt (the run was not
  dead-lettered); stuck: runs not finished at the end; duplicated: a (run, node, iteration)
  that succeeded twice, or a node that reached the model more often than it was started;
- kill → next attempt of the step in flight (p50/p95/max), and kill → claim of the steps that
  were queued at the kill (which includes any kick the killed worker had reserved);
- re-kicks sent by the sweeper, the peak number of PostgreSQL connections to the soak's
  database (`pg_stat_activity`, sampled every 0.1 s), and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import statistics
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from . import _harness

TAG = re.compile(r"\[r(\d+)\]")
# What a model request asks for → the node asking (see `kind_of`).
NODES = {
    "choose_route": "classify",
    "submit_score": "judge",
    "Write a kind": "billing_reply",
    "A trip to": "explain",
}


def kind_of(request: dict) -> str:
    from tests.llmserver import last_user_message

    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        return choice.get("function", {}).get("name", "?")
    return " ".join(last_user_message(request).split()[:3])


def tagged(latency: float, words: str):
    """A reply that repeats the run's tag, so the judge's request can be told apart too."""
    from tests.llmserver import last_user_message, text

    def reply(request: dict):
        match = TAG.search(last_user_message(request))
        return text(f"{words} {match.group(0) if match else ''}", latency=latency)

    return reply


def percentiles(values: list[float]) -> str:
    if not values:
        return "n=0"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered):.2f}s, p95 {p95:.2f}s, max {ordered[-1]:.2f}s "
        f"(n={len(ordered)})"
    )


class Sampler(threading.Thread):
    """Peak PostgreSQL connections to one database, broker backlog and load, every 0.1 s."""

    def __init__(self, url: str, database: str, cluster: Any) -> None:
        super().__init__(daemon=True)
        self.url, self.database, self.cluster = url, database, cluster
        self.peak_connections = 0
        self.peak_backlog = 0
        self.peak_load = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(0.1):
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
                ).fetchone()
                self.peak_connections = max(self.peak_connections, count)
                with contextlib.suppress(Exception):  # a busy Redis: skip this sample
                    self.peak_backlog = max(self.peak_backlog, self.cluster.queue_length())
                self.peak_load = max(self.peak_load, os.getloadavg()[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--prefetch", type=int, default=None, help="worker prefetch multiplier (reserve kicks)"
    )
    parser.add_argument("--db", default="switchboard_bench_soak", help="database to (re)create")
    parser.add_argument("--deadline", type=float, default=600, help="seconds to wait at the end")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    base_url = os.environ.get("DATABASE_URL", "")
    _harness.BENCH_DB = args.db
    env = _harness.setup("celery")
    llm, user = env["llm"], env["user"]

    from django.conf import settings
    from django.utils import timezone

    from builder.models import Flow
    from runs.models import FINISHED_RUN_STATUSES, Run, Step
    from runs.services import run_start
    from runs.tasks import kick_advance
    from tests.runs.support import CeleryCluster

    llm.on("billing issue", tagged(2.0, "Sorry about the double charge."))
    llm.on("A trip to", tagged(1.0, "The trip costs what the figures say."))
    flows = [
        Flow.objects.get(workspace__slug="demo", name=name)
        for name in ("Support triage", "Trip budget")
    ]
    cluster = CeleryCluster(llm.base_url, os.environ["REDIS_URL"])
    settings.SWITCHBOARD_CELERY_QUEUE = cluster.queue
    for _ in range(args.workers):
        cluster.start_worker(concurrency=args.concurrency, prefetch=args.prefetch)
    cluster.start_beat().wait_for_output("Sweeper started", timeout=60)
    sampler = Sampler(base_url, args.db, cluster)
    sampler.start()
    load_before = os.getloadavg()

    run_ids: dict[int, int] = {}  # tag → run id

    def start_run() -> None:
        tag = len(run_ids)
        if tag >= args.runs:
            return
        flow = flows[tag % 2]
        if flow.name == "Support triage":
            inputs = {"message": f"[r{tag}] I was charged twice this month.", "customer": "Dana"}
        else:
            inputs = {"city": f"Oslo [r{tag}]", "nights": 2, "nightly_rate": 100}
        run = run_start(user=user, flow=flow, inputs=inputs)
        run_ids[tag] = run.pk
        kick_advance(run.pk)

    kills: list[dict[str, Any]] = []
    began = time.monotonic()
    try:
        if not args.kills:
            for _ in range(args.runs):
                start_run()
        per_kill = max(1, -(-args.runs // args.kills)) if args.kills else 0
        for number in range(args.kills):
            for _ in range(per_kill):
                start_run()
            time.sleep(random.uniform(0.5, 2.5))
            victim = random.choice(cluster.workers)
            victim.kill()
            killed_at = timezone.now()
            cluster.workers.remove(victim)
            # A dead process changes nothing more: what it held is exactly what it lost.
            in_flight = list(
                Step.objects.filter(
                    status="running", lease_owner__contains=f":{victim.pid}:"
                ).values_list("pk", "run_id", "node_id", "iteration", "attempt")
            )
            queued = list(Step.objects.filter(status="queued").values_list("pk", flat=True))
            waiting = list(Run.objects.filter(status="queued").values_list("pk", flat=True))
            kills.append(
                {"at": killed_at, "in_flight": in_flight, "queued": queued, "waiting": waiting}
            )
            print(
                f"  kill {number + 1}/{args.kills}: worker {victim.pid}, "
                f"{len(in_flight)} step(s) in flight, {len(queued)} queued, "
                f"{len(waiting)} run(s) not started",
                flush=True,
            )
            cluster.start_worker(concurrency=args.concurrency, prefetch=args.prefetch)
        while len(run_ids) < args.runs:
            start_run()
        deadline = time.monotonic() + args.deadline
        unfinished = Run.objects.filter(pk__in=run_ids.values()).exclude(
            status__in=FINISHED_RUN_STATUSES
        )
        while unfinished.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        elapsed = time.monotonic() - began
    finally:
        sampler.stop.set()
        sampler.join(timeout=5)
        beat_log = cluster.beat.log.read_text(errors="replace") if cluster.beat else ""
        cluster.stop()
        llm.stop()
    load_after = os.getloadavg()
    report(args, run_ids, kills, llm.requests, beat_log, sampler, elapsed)
    print(
        f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after, "
        f"peak 1-min {sampler.peak_load:.2f} ({os.cpu_count()} cores, shared)"
    )


def report(args, run_ids, kills, requests, beat_log, sampler, elapsed) -> None:
    from runs.models import Run, Step

    runs = {r.pk: r for r in Run.objects.filter(pk__in=run_ids.values())}
    statuses = Counter(r.status for r in runs.values())
    steps = list(
        Step.objects.filter(run_id__in=runs).values(
            "pk", "run_id", "node_id", "iteration", "attempt", "status", "started_at", "finished_at"
        )
    )
    by_attempt = {(s["run_id"], s["node_id"], s["iteration"], s["attempt"]): s for s in steps}
    started = Counter((s["run_id"], s["node_id"]) for s in steps if s["started_at"])
    succeeded = Counter(
        (s["run_id"], s["node_id"], s["iteration"]) for s in steps if s["status"] == "succeeded"
    )
    calls: Counter = Counter()
    for request in requests:
        match = TAG.search(json.dumps(request))
        node = NODES.get(kind_of(request))
        if match and node and int(match.group(1)) in run_ids:
            calls[(run_ids[int(match.group(1))], node)] += 1
    duplicated = sum(1 for n in succeeded.values() if n > 1) + sum(
        1 for key, n in calls.items() if n > started[key]
    )

    resumed, recovered, restarted, claimed, lost = [], [], [], [], 0
    queued_at: dict[int, Any] = {}
    for kill in kills:
        for pk in kill["queued"]:
            queued_at.setdefault(pk, kill["at"])
        for _, run_id, node_id, iteration, attempt in kill["in_flight"]:
            following = by_attempt.get((run_id, node_id, iteration, attempt + 1))
            if following and following["started_at"]:
                resumed.append((following["started_at"] - kill["at"]).total_seconds())
                # The lost attempt is closed when the sweeper takes it back.
                swept = by_attempt[(run_id, node_id, iteration, attempt)]["finished_at"]
                recovered.append((swept - kill["at"]).total_seconds())
                restarted.append((following["started_at"] - swept).total_seconds())
            elif runs[run_id].status not in ("dead_letter", "cancelled"):
                lost += 1
    for step in steps:
        if step["pk"] in queued_at and step["started_at"]:
            claimed.append((step["started_at"] - queued_at[step["pk"]]).total_seconds())
    waiting_at: dict[int, Any] = {}
    for kill in kills:
        for pk in kill["waiting"]:
            waiting_at.setdefault(pk, kill["at"])
    started_runs = [
        (runs[pk].started_at - at).total_seconds()
        for pk, at in waiting_at.items()
        if pk in runs and runs[pk].started_at
    ]
    rekicks = sum(int(n) for n in re.findall(r"Sweeper re-kicking (\d+) run", beat_log))
    passes_with_rekicks = len(re.findall(r"Sweeper re-kicking", beat_log))
    stuck = sum(1 for r in runs.values() if not r.is_finished)

    prefetch = f", prefetch ×{args.prefetch}" if args.prefetch else ""
    print(f"\n{len(runs)} runs, {len(kills)} SIGKILLs, {args.workers} workers × "
          f"{args.concurrency} threads{prefetch}, {elapsed:.0f}s")  # fmt: skip
    print(f"  runs: {dict(statuses)}; crashes counted: {sum(r.crash_count for r in runs.values())}")
    print(f"  lost {lost}, duplicated {duplicated}, stuck {stuck}")
    print(f"  kill → next attempt of the step in flight: {percentiles(resumed)}")
    print(f"    of which kill → swept (lease lapsed): {percentiles(recovered)}")
    print(f"    and swept → next attempt started: {percentiles(restarted)}")
    print(f"  kill → claim of steps queued at the kill: {percentiles(claimed)}")
    print(f"  kill → start of runs not started at the kill: {percentiles(started_runs)}")
    print(
        f"  sweeper re-kicks: {rekicks} run(s) in {passes_with_rekicks} pass(es); "
        f"peak broker backlog {sampler.peak_backlog} kick(s)"
    )
    waits = [(r.started_at - r.created_at).total_seconds() for r in runs.values() if r.started_at]
    from django.conf import settings

    rekick = settings.SWITCHBOARD_REKICK_SECONDS
    print(
        f"  start → first step: {percentiles(waits)}; {sum(w > rekick for w in waits)} run(s) "
        f"waited over {rekick:.0f}s in line (each a re-kick for a rule that ignores the line)"
    )
    print(f"  peak PostgreSQL connections to {args.db}: {sampler.peak_connections}")
    by_run = defaultdict(int)
    for run in runs.values():
        by_run[run.crash_count] += 1
    print(f"  runs by crashes counted: {dict(sorted(by_run.items()))}")


if __name__ == "__main__":
    main()

"""Recovery time after a kill -9, median of several.

    .venv/bin/python -m bench.recovery embedded [--trials 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python -m bench.recovery celery [--trials 5] [--lease 15] [--sweep 2]

Each trial starts "Support triage" with a 2 s model call in its second step and kills the
process executing that step while the call is in flight:

- celery: two workers (threads pool) and beat; the worker holding the step's lease is killed
  and a replacement started. Recovery = lease expiry + the next sweep, no broker timeout.
- embedded: daphne is killed and started again; start-up recovery takes the run back at once.

It prints the time from the kill until the lost step is executing again, and until the run has
finished (that includes the 2 s model call).
"""

from __future__ import annotations

import argparse
import threading

from django.utils import timezone

from ._harness import flow_id, post, run_status, setup, summary, wait

PROMPT = "Write a kind"


def billing_calls(llm) -> int:
    from tests.llmserver import last_user_message

    return sum(1 for r in llm.requests if last_user_message(r).startswith(PROMPT))


def trial(run_start, kill, llm) -> tuple[float, float]:
    from runs.models import Run, Step

    before = billing_calls(llm)
    run_id = run_start()
    wait(lambda: billing_calls(llm) > before)
    step = Step.objects.get(run_id=run_id, node_id="billing_reply", attempt=0)
    killed_at = kill(step.lease_owner)
    wait(lambda: run_status(run_id) == "succeeded", timeout=120)
    retried = Step.objects.get(run_id=run_id, node_id="billing_reply", attempt=1)
    finished = Run.objects.get(pk=run_id).finished_at
    return (
        (retried.started_at - killed_at).total_seconds(),
        (finished - killed_at).total_seconds(),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["embedded", "celery"])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--lease", default="15", help="SWITCHBOARD_LEASE_SECONDS (celery)")
    parser.add_argument("--sweep", default="2", help="SWITCHBOARD_SWEEP_SECONDS (celery)")
    args = parser.parse_args()
    env = setup(args.mode)
    llm, token = env["llm"], env["token"]

    from tests.llmserver import text
    from tests.runs.support import CeleryCluster, Daphne, embedded_env

    llm.on("billing issue", text("Sorry about the double charge.", latency=2.0))
    flow = flow_id("Support triage")
    resumed, finished = [], []
    if args.mode == "celery":
        import os

        cluster = CeleryCluster(
            llm.base_url,
            os.environ["REDIS_URL"],
            SWITCHBOARD_LEASE_SECONDS=args.lease,
            SWITCHBOARD_SWEEP_SECONDS=args.sweep,
        )
        server = Daphne(cluster.env).start()
        cluster.start_worker()
        cluster.start_worker()
        cluster.start_beat()

        def kill(owner: str):
            pid = int(owner.split(":")[1])
            victim = next(w for w in cluster.workers if w.pid == pid)
            victim.kill()
            killed_at = timezone.now()
            cluster.workers.remove(victim)
            threading.Thread(target=cluster.start_worker, daemon=True).start()
            return killed_at

        def start() -> int:
            return post(server.http, f"/api/flows/{flow}/runs", token)["id"]

        try:
            for _ in range(args.trials):
                wait(lambda: len(cluster.workers) >= 2, timeout=60)
                a, b = trial(start, kill, llm)
                resumed.append(a)
                finished.append(b)
                print(f"  step re-executing after {a:.2f}s, run finished after {b:.2f}s")
        finally:
            server.stop()
            cluster.stop()
        setting = f"lease {args.lease}s, sweep every {args.sweep}s, 2 workers"
    else:
        servers = [Daphne(embedded_env(llm.base_url)).start()]

        def kill(owner: str):
            servers[-1].kill()
            killed_at = timezone.now()
            servers.append(Daphne(embedded_env(llm.base_url)).start())
            return killed_at

        def start() -> int:
            return post(servers[-1].http, f"/api/flows/{flow}/runs", token)["id"]

        try:
            for _ in range(args.trials):
                a, b = trial(start, kill, llm)
                resumed.append(a)
                finished.append(b)
                print(f"  step re-executing after {a:.2f}s, run finished after {b:.2f}s")
        finally:
            for server in servers:
                server.stop()
        setting = "daphne killed and restarted (start-up recovery)"
    print(f"{args.mode} recovery after kill -9 ({setting}):")
    print(f"  kill → lost step executing again: {summary(resumed)}")
    print(f"  kill → run finished (incl. the 2 s model call): {summary(finished)}")
    llm.stop()


if __name__ == "__main__":
    main()

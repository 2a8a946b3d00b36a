"""The end-to-end check: serve, run over the API, stream, kill -9, approve, finish.

    .venv/bin/python -m bench.scale_check embedded
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python -m bench.scale_check celery

Starts `manage.py serve` (daphne; with Redis also a threads-pool worker and beat, at the default
15 s lease), starts "Recipe assistant" over the API with a personal token, follows it with a
websocket client, kills -9 the process executing the 2 s "Cooking instructions" model call
(the worker, which `serve` restarts; or daphne itself, which is then started again), waits for
the approval, approves over the API, and checks the client saw every event exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from django.utils import timezone

from ._harness import flow_id, post, run_status, setup, wait


class Follower(threading.Thread):
    """A websocket client that reconnects with ?after= whenever the server goes away."""

    def __init__(self, base: str, run_id: int, token: str):
        super().__init__(daemon=True)
        self.base, self.run_id, self.token = base, run_id, token
        self.events: list[dict] = []
        self.reconnects = 0
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        from websockets.sync.client import connect

        while not self.done.is_set():
            after = self.events[-1]["seq"] if self.events else 0
            try:
                with connect(
                    f"{self.base}/ws/runs/{self.run_id}/?after={after}",
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    proxy=None,
                    open_timeout=2,
                ) as ws:
                    while True:
                        message = json.loads(ws.recv(timeout=30))
                        if message["type"] == "event":
                            self.events.append(message)
                            if message["kind"] == "run.succeeded":
                                self.done.set()
                                return
            except Exception as exc:
                self.reconnects += 1
                self.errors.append(repr(exc)[:120])
                time.sleep(0.2)

    def seen(self, kind: str, node_id: str | None = None) -> bool:
        return any(
            e["kind"] == kind and (node_id is None or e["node_id"] == node_id) for e in self.events
        )


LOG = tempfile.mkstemp(prefix="switchboard-serve-", suffix=".log")[1]


def serve(port: int, env: dict) -> subprocess.Popen:
    with open(LOG, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--concurrency", "16"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["embedded", "celery"])
    args = parser.parse_args()
    env = setup(args.mode)
    llm, token = env["llm"], env["token"]

    from runs.models import Approval, RunEvent, Step
    from tests.llmserver import text
    from tests.runs.support import database_env, free_port, service_env

    llm.on(
        "Write cooking instructions",
        text("1. Heat the oven. 2. Layer the pasta and the sauce. 3. Bake for 40 minutes.",
             latency=2.0),
    )  # fmt: skip
    extra = {"REDIS_URL": "", "SWITCHBOARD_EXECUTOR": "embedded"}
    if args.mode == "celery":
        extra = {
            "REDIS_URL": os.environ["REDIS_URL"],
            "SWITCHBOARD_EXECUTOR": "celery",
            "SWITCHBOARD_CELERY_QUEUE": f"scale-check-{uuid.uuid4().hex[:6]}",
        }
    proc_env = {**service_env(llm.base_url, **extra), **database_env(), "LOG_LEVEL": "WARNING"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    servers = [serve(port, proc_env)]
    try:
        wait(lambda: _up(port), timeout=60)
        if args.mode == "celery":
            time.sleep(5)  # the worker's start-up
        started = post(base, f"/api/flows/{flow_id('Recipe assistant')}/runs", token)
        follower = Follower(f"ws://127.0.0.1:{port}", started["id"], token)
        follower.start()
        wait(lambda: Step.objects.filter(
            run_id=started["id"], node_id="instructions", status="running").first())  # fmt: skip
        step = Step.objects.get(run_id=started["id"], node_id="instructions", status="running")
        pid = int(step.lease_owner.split(":")[-2])
        os.kill(pid, signal.SIGKILL)
        killed_at = timezone.now()
        if args.mode == "embedded":
            servers[0].wait(timeout=10)
            servers.append(serve(port, proc_env))
        wait(lambda: run_status(started["id"]) == "waiting", timeout=90)
        resumed = Step.objects.get(run_id=started["id"], node_id="instructions", attempt=1)
        wait(lambda: follower.seen("approval.requested"), timeout=30)
        approval = Approval.objects.get(run_id=started["id"])
        post(base, f"/api/approvals/{approval.pk}/decision", token, {"decision": "approved"})
        follower.done.wait(timeout=60)
        assert follower.done.is_set(), "the client never saw run.succeeded"
        seqs = [e["seq"] for e in follower.events]
        logged = RunEvent.objects.filter(run_id=started["id"]).count()
        assert seqs == list(range(1, logged + 1)), (seqs, logged)
        if follower.errors:
            print("client reconnect causes:", sorted(set(follower.errors)))
        print(
            f"{args.mode}: run {started['id']} succeeded; the client saw all {logged} events "
            f"once, in order ({follower.reconnects} reconnects); the killed step ran again "
            f"{(resumed.started_at - killed_at).total_seconds():.1f}s after kill -9 of pid {pid}"
        )
    finally:
        print(f"(server output: {LOG})")
        for server in servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
        llm.stop()


def _up(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    main()

"""Event latency from commit to a websocket client, p50/p95.

    .venv/bin/python -m bench.ws_latency embedded [--runs 30]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python -m bench.ws_latency celery [--runs 30]

A client (the `websockets` library) follows each run of "Trip budget" on daphne; the model
answers after 0.3 s so most events arrive live. Latency = arrival at the client minus the event's
`ts`, which is stamped in the committing transaction just before the commit (same clock), over
live events only (the backlog sent on connect is not counted).

- embedded: steps execute in daphne; in-memory channel layer.
- celery: steps execute in a threads-pool worker; events go worker → Redis → daphne → client.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime

from ._harness import flow_id, post, setup, summary


def follow(server, run_id: int, token: str) -> list[float]:
    from websockets.sync.client import connect

    latencies, live = [], False
    with connect(
        f"{server.ws}/ws/runs/{run_id}/",
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
    ) as ws:
        while True:
            message = json.loads(ws.recv(timeout=30))
            arrived = time.time()
            if message["type"] == "ready":
                live = True
            elif message["type"] == "event":
                if live:
                    sent = datetime.fromisoformat(message["ts"]).timestamp()
                    latencies.append((arrived - sent) * 1000)
                if message["kind"] in ("run.succeeded", "run.failed"):
                    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["embedded", "celery"])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    env = setup(args.mode)
    llm, token = env["llm"], env["token"]

    from tests.llmserver import text
    from tests.runs.support import CeleryCluster, Daphne, embedded_env

    llm.on("A trip to", text("The trip costs 540 EUR in all.", latency=0.3))
    flow = flow_id("Trip budget")
    cluster = None
    if args.mode == "celery":
        cluster = CeleryCluster(llm.base_url, os.environ["REDIS_URL"])
        server = Daphne(cluster.env).start()
        cluster.start_worker()
    else:
        server = Daphne(embedded_env(llm.base_url)).start()
    latencies: list[float] = []
    try:
        for _ in range(args.runs):
            run_id = post(server.http, f"/api/flows/{flow}/runs", token)["id"]
            latencies += follow(server, run_id, token)
    finally:
        server.stop()
        if cluster is not None:
            cluster.stop()
        llm.stop()
    print(f"{args.mode}: event commit → websocket client: {summary(latencies, ' ms')}")


if __name__ == "__main__":
    main()

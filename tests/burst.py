"""A burst of concurrent run starts against a real server, and the database connections it holds
meanwhile: shared by tests/test_burst.py and bench/burst.py."""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tests.runs.support import Daphne

# input → tool → output: three steps of real executor work and no model call.
BURST_GRAPH: dict[str, Any] = {
    "schema_version": 1,
    "nodes": [
        {
            "id": "order",
            "type": "input",
            "label": "Order",
            "position": {"x": 0, "y": 0},
            "config": {
                "schema": {
                    "type": "object",
                    "required": ["n"],
                    "properties": {"n": {"type": "integer", "title": "N"}},
                },
                "sample": {"n": 2},
            },
        },
        {
            "id": "double",
            "type": "tool",
            "label": "Double",
            "position": {"x": 200, "y": 0},
            "config": {"tool": "calculator", "arguments": {"expression": "{{ inputs.n }} * 2"}},
        },
        {
            "id": "result",
            "type": "output",
            "label": "Result",
            "position": {"x": 400, "y": 0},
            "config": {"name": "result"},
        },
    ],
    "edges": [
        {
            "id": "e1",
            "source": "order",
            "source_port": "out",
            "target": "double",
            "target_port": "in",
        },
        {
            "id": "e2",
            "source": "double",
            "source_port": "out",
            "target": "result",
            "target_port": "in",
        },
    ],
}


class BurstDaphne(Daphne):
    """Daphne listening with a deep accept queue: Twisted's default of 50 resets part of a
    300-connection burst at the TCP level, before the application sees it."""

    def __init__(self, env: dict[str, str]):
        super().__init__(env)
        endpoint = f"tcp:port={self.port}:interface=127.0.0.1:backlog=1024"
        self.argv = [self.argv[0], "-e", endpoint, "config.asgi:application"]


@dataclass
class Answer:
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    seconds: float
    retry_after: str | None = None
    body: Any = None
    error: str = ""

    @property
    def run_id(self) -> int | None:
        return self.body.get("id") if self.status == 202 and isinstance(self.body, dict) else None


def post(url: str, token: str, body: dict, timeout: float) -> Answer:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, exc.headers, exc.read()
    except OSError as exc:
        return Answer(0, time.monotonic() - started, error=repr(exc))
    try:
        parsed = json.loads(raw or b"null")
    except ValueError:
        parsed = raw[:500].decode(errors="replace")
    return Answer(status, time.monotonic() - started, headers.get("Retry-After"), parsed)


def fire(
    url: str, token: str, body: dict, *, count: int, concurrency: int, timeout: float = 60
) -> list[Answer]:
    """POST `count` times from `concurrency` threads, the first `concurrency` all at once."""
    gate = threading.Event()

    def one(_: int) -> Answer:
        gate.wait()
        return post(url, token, body, timeout)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(one, i) for i in range(count)]
        time.sleep(0.2)  # let the threads reach the gate
        gate.set()
        return [f.result() for f in futures]


def report(answers: list[Answer]) -> str:
    counts = Counter(a.status for a in answers)
    ordered = sorted(a.seconds for a in answers)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"statuses {dict(sorted(counts.items()))}; latency p50 "
        f"{statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


class ConnectionSampler:
    """Poll pg_stat_activity from a connection of its own: the peak number of server connections
    to this database (all, and those of one application_name)."""

    def __init__(self, url: str, application_name: str, interval: float = 0.02):
        self.url, self.application_name, self.interval = url, application_name, interval
        self.peak_total = self.peak_app = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pg-sampler", daemon=True)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                total, app = conn.execute(
                    "SELECT count(*), count(*) FILTER (WHERE application_name = %s) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()",
                    [self.application_name],
                ).fetchone()
                self.peak_total = max(self.peak_total, total)
                self.peak_app = max(self.peak_app, app)
                self._stop.wait(self.interval)

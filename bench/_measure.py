"""Shared pieces of the comparison benchmarks (versus_langgraph, concurrent_runs): the scripted
model server in a process of its own, process CPU from /proc, the box's load, a fresh
PostgreSQL database, and median/spread summaries.

Nothing here imports Django at import time: the parents of those benchmarks configure no
database (only `start_run`, called in a configured child, does).

The model server runs apart so that its CPU is never counted for either side: it stands in for
the remote provider. `python -m bench._measure --latency 0.2` serves it by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ModelServer:
    """`tests/llmserver.py`'s default replies after a fixed latency, served by a subprocess."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.process: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> ModelServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench._measure", "--latency", str(self.latency)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            raise RuntimeError(f"the model server did not start: {self.base_url!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def serve_model(latency: float) -> None:
    """Serve the scripted model on a free loopback port; print its base URL, then block."""
    from tests import llmserver

    # socketserver listens with a backlog of 5: hundreds of simultaneous connects would wait
    # for SYN retransmits (a second or more) and measure the kernel instead of the engines.
    llmserver._Server.request_queue_size = 4096

    def delayed(request: dict) -> llmserver.Reply:
        return dataclasses.replace(llmserver.default_reply(request), latency=latency)

    server = llmserver.ScriptedLLM()
    server.on(lambda request: True, delayed)
    server.start()
    print(server.base_url, flush=True)
    threading.Event().wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, from /proc (Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime, stime, cutime, cstime are fields 14-17 of stat(5); fields[0] here is field 3.
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def postgres_recreate(server_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `server_url`; return its URL."""
    import psycopg

    base = server_url.rstrip("/")
    if base.count("/") > 2:
        base = base.rpartition("/")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def postgres_backend_cpu(pid: int | None) -> float | None:
    """CPU of one PostgreSQL backend (the server must be on this machine), or None."""
    if pid is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        return cpu_seconds(pid)
    return None


def start_run(**kwargs: Any) -> Any:
    """`run_start`, then the kick its caller owes (inline: the whole run, in this call)."""
    from runs.services import run_start

    run = run_start(**kwargs)
    try:
        from runs.dispatch import kick
    except ImportError:  # an engine before runs.dispatch: run_start kicked on commit itself
        return run
    kick(run.pk)
    return run


def spread(values: list[float], digits: int = 2) -> str:
    """'median [min–max]' of a sample."""
    if not values:
        return "n/a"
    f = f"{{:.{digits}f}}"
    return (
        f"{f.format(statistics.median(values))} [{f.format(min(values))}–{f.format(max(values))}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the scripted model with a latency.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    serve_model(parser.parse_args().latency)


if __name__ == "__main__":
    main()

"""Serve Switchboard: daphne, plus a Celery worker and the beat sweeper when Redis is configured.

Embedded (no REDIS_URL): one daphne process serves pages, the API and websockets, executes runs
on a thread pool and sweeps (taking back, at start-up, what a previous process left running).
At scale (REDIS_URL): daphne sends kicks; this also starts one threads-pool worker and the beat
that drives the sweeper, and restarts either if it dies (a killed worker's run resumes on the
next one). Bigger deployments run these as separate services instead. Stopping daphne (or this
command) stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start daphne (and, with REDIS_URL, a Celery worker and the sweeper)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--concurrency", type=int, default=32, help="Worker threads (steps wait on network)"
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Celery mode: serve only; workers run apart"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        server = [sys.executable, "-m", "daphne", "-b", options["host"], "-p",
                  str(options["port"]), "config.asgi:application"]  # fmt: skip
        helpers: dict[str, list[str]] = {}
        if settings.SWITCHBOARD_EXECUTOR == "celery" and not options["no_worker"]:
            celery = str(Path(sys.executable).parent / "celery")
            schedule = Path(settings.DATA_DIR) / "celerybeat-schedule"
            helpers["worker"] = [
                celery,
                "-A",
                "config",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(options["concurrency"]),
                "-l",
                "INFO",
            ]
            helpers["beat"] = [celery, "-A", "config", "beat", "--schedule", str(schedule),
                               "-l", "INFO"]  # fmt: skip
        mode = settings.SWITCHBOARD_EXECUTOR
        self.stdout.write(f"Serving on http://{options['host']}:{options['port']} ({mode})")
        # Each worker thread may hold a database connection: size the worker's pool to match.
        worker_env = {**os.environ}
        worker_env.setdefault("DB_POOL_MAX", str(options["concurrency"] + 4))
        envs = {"worker": worker_env}
        children = {
            name: subprocess.Popen(argv, env=envs.get(name))  # noqa: S603
            for name, argv in helpers.items()
        }
        daphne = subprocess.Popen(server)  # noqa: S603
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and daphne.poll() is None:
            for name, child in list(children.items()):
                if child.poll() is not None:
                    self.stderr.write(f"The {name} exited ({child.returncode}); restarting it")
                    children[name] = subprocess.Popen(helpers[name], env=envs.get(name))  # noqa: S603
            time.sleep(0.5)
        for child in [daphne, *children.values()]:
            if child.poll() is None:
                child.terminate()
        for child in [daphne, *children.values()]:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if daphne.returncode:
            sys.exit(daphne.returncode)

"""Shared set-up for the runs benchmarks: a fresh database with the demo flows, a user with a
token, the scripted model server, and the real processes (daphne, Celery workers, beat).

The database: with DATABASE_URL=postgres://… a fresh `switchboard_bench_runs` database next to
it (dropped and re-created); otherwise a temporary SQLite file.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import urllib.request
from typing import Any

BENCH_DB = "switchboard_bench_runs"


def setup(mode: str) -> dict[str, Any]:
    """Prepare the environment for `mode` ("embedded" or "celery") and return the pieces."""
    url = os.environ.get("DATABASE_URL", "")
    if mode == "celery" and not (url.startswith("postgres") and os.environ.get("REDIS_URL")):
        raise SystemExit("celery mode needs DATABASE_URL=postgres://… and REDIS_URL")
    if url.startswith("postgres"):
        import psycopg

        base, _, _ = url.rpartition("/")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
        os.environ["DATABASE_URL"] = f"{base}/{BENCH_DB}"
    else:
        os.environ["SQLITE_PATH"] = os.path.join(tempfile.mkdtemp(), "bench.sqlite3")
    if mode == "embedded":
        os.environ["REDIS_URL"] = ""
    os.environ["SWITCHBOARD_EXECUTOR"] = mode
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115

    from django.contrib.auth import get_user_model

    from tests.llmserver import ScriptedLLM
    from workspaces.models import ApiToken, Membership, Role, Workspace

    user = get_user_model().objects.create_user("bench", password="bench-pw-123")
    Membership.objects.create(
        user=user, workspace=Workspace.objects.get(slug="demo"), role=Role.OWNER
    )
    _, token = ApiToken.issue(user=user, name="bench")
    llm = ScriptedLLM().start()
    return {"token": token, "llm": llm, "user": user}


def flow_id(name: str) -> int:
    from builder.models import Flow

    return Flow.objects.get(workspace__slug="demo", name=name).pk


def post(base: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait(predicate: Any, timeout: float = 60, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(interval)


def run_status(run_id: int) -> str:
    from runs.models import Run

    return Run.objects.values_list("status", flat=True).get(pk=run_id)


def summary(values: list[float], unit: str = "s") -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered):.2f}{unit}, p95 {p95:.2f}{unit}, "
        f"min {ordered[0]:.2f}{unit}, max {ordered[-1]:.2f}{unit} (n={len(ordered)})"
    )

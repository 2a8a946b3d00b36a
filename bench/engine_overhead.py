"""Engine + database overhead per step, on a 100-node chain with an instant model.

    .venv/bin/python -m bench.engine_overhead                      # SQLite (a temp file)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.engine_overhead

Two chains: 100 tool nodes (calculator: engine + DB only) and 100 prompt nodes against the
scripted model server on loopback with zero latency (adds the SDK and HTTP). It prints the mean
milliseconds per step. On PostgreSQL it creates and drops a `switchboard_bench` database.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time


def _setup_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        base, _, _ = url.rpartition("/")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS switchboard_bench")
            conn.execute("CREATE DATABASE switchboard_bench")
        os.environ["DATABASE_URL"] = f"{base}/switchboard_bench"
    else:
        os.environ["SQLITE_PATH"] = os.path.join(tempfile.mkdtemp(), "bench.sqlite3")


def _chain(kind: str, length: int) -> dict:
    nodes = [
        {
            "id": "start",
            "type": "input",
            "config": {"schema": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        }
    ]
    for i in range(length):
        if kind == "tool":
            config = {"tool": "calculator", "arguments": {"expression": f"{i} + 1"}}
        else:
            config = {"prompt": f"Step {i}", "max_tokens": 16}
        nodes.append({"id": f"n{i}", "type": kind, "config": config})
    nodes.append({"id": "end", "type": "output", "config": {}})
    ids = [n["id"] for n in nodes]
    edges = [
        {"id": f"e{i}", "source": a, "target": b}
        for i, (a, b) in enumerate(itertools.pairwise(ids))
    ]
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


def main() -> None:
    _setup_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from builder.models import Flow
    from runs.executor import InlineExecutor
    from runs.models import Run
    from runs.services import run_start
    from runs.services.ports import reset_llm_client
    from tests.llmserver import ScriptedLLM
    from workspaces.services import workspace_create

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="x")
    workspace = workspace_create(name="Bench", slug="bench", owner=user)
    vendor = connection.vendor
    with ScriptedLLM() as llm:
        providers = {k: dict(v) for k, v in settings.SWITCHBOARD_PROVIDERS.items()}
        providers["openai"]["base_url"] = llm.base_url
        settings.SWITCHBOARD_PROVIDERS = providers
        settings.SWITCHBOARD_DEFAULT_MODEL = "openai/gpt-4o-mini"
        os.environ.setdefault("OPENAI_API_KEY", "bench")
        reset_llm_client()
        for kind in ("tool", "prompt"):
            flow = Flow.objects.create(workspace=workspace, name=kind, graph=_chain(kind, 100))
            timings = []
            for _ in range(3):
                run = run_start(
                    user=user,
                    flow=flow,
                    inputs={},
                    use_draft=True,
                    budgets={"max_steps": 500},
                )
                started = time.perf_counter()
                InlineExecutor().advance(run.pk)
                elapsed = time.perf_counter() - started
                run = Run.objects.get(pk=run.pk)
                assert run.status == "succeeded", (run.error_code, run.error_message)
                timings.append(elapsed * 1000 / run.step_count)
            best = min(timings)
            print(
                f"{vendor:10s} {kind:6s} chain of 102 steps: {best:6.2f} ms/step "
                f"(best of 3; all: {', '.join(f'{t:.2f}' for t in timings)})"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

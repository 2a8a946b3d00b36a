"""What one map item costs: a map over N items, each a child run of input -> tool -> output
(a called flow), or of the same tool step drawn inside the map (its region).

    .venv/bin/python -m bench.map_overhead                      # SQLite (a temp file)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.map_overhead

The child uses the calculator tool, so the figure is the engine, the child run's bookkeeping
(start, three steps, the parent's resume) and the database, with no model. It prints the wall
milliseconds per item on the embedded executor (4 threads; best of 3), for 50 items at
concurrency 1 and 10.
On PostgreSQL it creates and drops a `switchboard_bench` database.
"""

from __future__ import annotations

import os
import sys
import time

from bench.engine_overhead import _setup_database

ITEMS = 50


def _child() -> dict:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    return {
        "schema_version": 1,
        "nodes": [
            {"id": "in", "type": "input", "config": {"schema": schema}},
            {
                "id": "add",
                "type": "tool",
                "config": {"tool": "calculator", "arguments": {"expression": "{{ inputs.n }} + 1"}},
            },
            {"id": "out", "type": "output", "config": {"name": "sum"}},
        ],
        "edges": [
            {"id": "e1", "source": "in", "target": "add"},
            {"id": "e2", "source": "add", "target": "out"},
        ],
    }


def _parent(child_id: int, concurrency: int) -> dict:
    schema = {"type": "object", "properties": {"numbers": {"type": "array"}}}
    config = {
        "flow": child_id,
        "items": "{{ inputs.numbers }}",
        "item_input": "n",
        "concurrency": concurrency,
    }
    return {
        "schema_version": 1,
        "nodes": [
            {"id": "in", "type": "input", "config": {"schema": schema}},
            {"id": "each", "type": "map", "config": config},
            {"id": "out", "type": "output", "config": {"name": "sums"}},
        ],
        "edges": [
            {"id": "e1", "source": "in", "target": "each"},
            {"id": "e2", "source": "each", "target": "out"},
        ],
    }


def _region_parent(concurrency: int) -> dict:
    """The same work drawn inside the map: its region's tool step gives each item's result."""
    graph = _parent(0, concurrency)
    config = graph["nodes"][1]["config"]
    del config["flow"]
    config["item_input"] = "n"
    add = _child()["nodes"][1]
    graph["nodes"].insert(2, {**add, "parent": "each"})
    return graph


def _run(flow, user, check) -> list[float]:
    from runs import dispatch
    from runs.models import Run
    from runs.services import run_start

    timings = []
    for _ in range(3):
        run = run_start(user=user, flow=flow, inputs={"numbers": list(range(ITEMS))})
        started = time.perf_counter()
        dispatch.kick(run.pk)
        while not Run.objects.get(pk=run.pk).is_finished:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        run = Run.objects.get(pk=run.pk)
        assert run.status == "succeeded", (run.status, run.error_code, run.error_message)
        assert check(run.result["sums"]) == [n + 1 for n in range(ITEMS)]
        timings.append(elapsed * 1000 / ITEMS)
    return timings


def main() -> None:
    _setup_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from builder.models import Flow
    from builder.services import flow_publish
    from runs.executor import EmbeddedExecutor, set_executor
    from workspaces.services import workspace_create

    call_command("migrate", verbosity=0)
    executor = EmbeddedExecutor(threads=4)
    set_executor(executor)
    user = get_user_model().objects.create_user("bench", password="x")
    workspace = workspace_create(name="Bench", slug="bench", owner=user)
    child = Flow.objects.create(workspace=workspace, name="add one", graph=_child())
    flow_publish(flow=child, user=user)
    forms = {
        "flow  ": (lambda c: _parent(child.pk, c), lambda sums: [r["sum"]["result"] for r in sums]),
        "region": (_region_parent, lambda sums: [r["result"] for r in sums]),
    }
    for form, (graph, check) in forms.items():
        for concurrency in (1, 10):
            flow = Flow.objects.create(
                workspace=workspace, name=f"map {form} {concurrency}", graph=graph(concurrency)
            )
            flow_publish(flow=flow, user=user)
            flow = Flow.objects.select_related("workspace").get(pk=flow.pk)
            timings = _run(flow, user, check)
            print(
                f"{connection.vendor:10s} {form} map of {ITEMS} items, concurrency "
                f"{concurrency:2d}: {min(timings):6.2f} ms/item (best of 3; all: "
                f"{', '.join(f'{t:.2f}' for t in timings)})"
            )
    executor.wait_idle(timeout=30)
    executor.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()

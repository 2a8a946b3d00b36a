# ruff: noqa: F811
# Fixtures come from .support by import; using them as parameters is not a redefinition.
"""The per-workspace cap on running runs: beyond it runs are queued, not refused, and start in
order as running ones finish; the sweeper starts a queued run whose slot is free."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from builder.models import Flow, FlowVersion
from runs.dispatch import StartKicks
from runs.executor import Executor, InlineExecutor, set_executor
from runs.models import Run, Step
from runs.services import run_start, sweep
from runs.services.capacity import run_may_start, runs_to_start, workspace_cap
from runs.services.recovery import STALE_QUEUED, rekick_after
from tests.llmserver import text
from tests.runs.engine.graphs import edge, graph, node, prompt
from workspaces.models import Role, Workspace

from .support import embedded, memory_layer, wait_status, wait_until  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

ORDER_GRAPH = graph(
    [
        node(
            "start",
            "input",
            schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        ),
        prompt("answer", "Order {{ inputs.n }}"),
        node("end", "output"),
    ],
    [edge("start", "answer"), edge("answer", "end")],
)


class Gates:
    """Model replies that wait until the test opens the gate of their order number."""

    def __init__(self, *numbers: int) -> None:
        self.gates = {n: threading.Event() for n in numbers}
        self.called: list[int] = []

    def __call__(self, request) -> object:
        number = int(re.search(r"Order (\d+)", request["messages"][-1]["content"]).group(1))
        self.called.append(number)
        assert self.gates[number].wait(timeout=120), f"gate {number} never opened"
        return text(f"done {number}")

    def open(self, number: int) -> None:
        self.gates[number].set()


def statuses(ids: list[int]) -> list[str]:
    by_id = dict(Run.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[i] for i in ids]


def test_runs_past_the_cap_are_queued_and_start_in_order(
    member, workspace, embedded, llm_server, api_for
):
    workspace.max_running_runs = 1
    workspace.save()
    gates = Gates(1, 2, 3)
    llm_server.on("Order", gates)
    flow = Flow.objects.create(workspace=workspace, name="Orders", graph=ORDER_GRAPH)
    api = api_for(member(Role.EDITOR), token=True)

    ids = []
    for n in (1, 2, 3):
        response = api.post(f"/api/flows/{flow.pk}/runs", {"use_draft": True, "inputs": {"n": n}})
        assert response.status_code == 202, response.content  # queued, never refused
        assert response.json()["status"] == "queued"
        ids.append(response.json()["id"])

    # One running, two queued behind the cap.
    wait_until(lambda: gates.called == [1], timeout=60)
    wait_status(ids[0], "running")
    assert statuses(ids) == ["running", "queued", "queued"]

    gates.open(1)
    wait_status(ids[0], "succeeded")
    wait_until(lambda: gates.called == [1, 2], timeout=60)
    assert statuses(ids) == ["succeeded", "running", "queued"]

    gates.open(2)
    wait_until(lambda: gates.called == [1, 2, 3], timeout=60)
    assert statuses(ids)[:2] == ["succeeded", "succeeded"]
    gates.open(3)
    wait_status(ids[2], "succeeded")

    runs = list(Run.objects.filter(pk__in=ids).order_by("pk"))
    assert [r.status for r in runs] == ["succeeded"] * 3
    answers = [json.dumps(Step.objects.get(run=r, node_id="answer").output) for r in runs]
    assert all(f"done {n}" in a for n, a in zip((1, 2, 3), answers, strict=True)), answers
    # Each started only after the one before it had finished: one slot, in order.
    assert runs[0].finished_at <= runs[1].started_at
    assert runs[1].finished_at <= runs[2].started_at


def test_the_cap_comes_from_the_workspace_or_the_setting(workspace, settings):
    settings.SWITCHBOARD_MAX_RUNNING_RUNS = 7
    assert workspace_cap(workspace.pk) == 7
    workspace.max_running_runs = 2
    workspace.save()
    assert workspace_cap(workspace.pk) == 2
    workspace.max_running_runs = 0
    workspace.save()
    assert workspace_cap(workspace.pk) is None  # no cap
    settings.SWITCHBOARD_MAX_RUNNING_RUNS = 0
    workspace.max_running_runs = None
    workspace.save()
    assert workspace_cap(workspace.pk) is None


def test_an_uncapped_start_neither_locks_its_workspace_nor_counts_runs(workspace):
    """Without a cap, starts of one workspace must not queue on its row (each would wait for
    the one before it to commit); under a cap they must, to share the last slot."""
    flow = Flow.objects.create(workspace=workspace, name="Orders", graph=ORDER_GRAPH)
    version = FlowVersion.objects.create(flow=flow, number=1, graph=flow.graph, published=True)
    run = Run.objects.create(flow=flow, workspace=workspace, version=version, status="queued")
    workspaces = Workspace._meta.db_table

    def queries(cap: int) -> list[str]:
        workspace.max_running_runs = cap
        workspace.save()
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            assert run_may_start(run) is True
        return [q["sql"] for q in captured.captured_queries]

    uncapped = queries(0)
    assert not any("FOR UPDATE" in sql or "COUNT(" in sql for sql in uncapped), uncapped
    assert sum(workspaces in sql for sql in uncapped) == 1
    capped = queries(5)
    assert sum("COUNT(" in sql for sql in capped) == 2  # running, then queued before it
    if connection.features.has_select_for_update:
        assert any(workspaces in sql and "FOR UPDATE" in sql for sql in capped), capped


def test_the_sweeper_starts_a_queued_run_whose_slot_is_free(member, workspace, memory_layer):
    """A process that crashed after a run finished never sent the kick for the next one: the
    sweeper's next pass starts it (not only after STALE_QUEUED)."""
    workspace.max_running_runs = 1
    workspace.save()
    user = member(Role.EDITOR)
    flow = Flow.objects.create(
        workspace=workspace,
        name="Quick",
        graph=graph(
            [node("start", "input", schema={"type": "object"}), node("end", "output")],
            [edge("start", "end")],
        ),
    )
    first = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    Run.objects.filter(pk=first.pk).update(status="running")  # holds the slot
    second = run_start(user=user, flow=flow, inputs={}, use_draft=True)

    # Its own kick finds no slot: it stays queued, and the sweeper leaves it while the slot is
    # taken.
    InlineExecutor().advance(second.pk)
    assert Run.objects.get(pk=second.pk).status == "queued"
    assert second.pk not in sweep()

    # The running one ends with its process (no kick sent); a few seconds on (its own kick
    # is long gone), the next sweep starts the second, well before STALE_QUEUED.
    Run.objects.filter(pk=first.pk).update(status="failed")
    later = timezone.now() + rekick_after() + timedelta(seconds=1)
    assert later < timezone.now() + STALE_QUEUED
    assert second.pk in sweep(now=later)
    assert second.pk not in sweep(now=later)  # kicked once, not on every pass
    InlineExecutor().advance(second.pk)
    assert Run.objects.get(pk=second.pk).status == "succeeded"


class KickRecorder(Executor):
    """An executor that only notes the runs it is asked to advance."""

    def __init__(self) -> None:
        self.advanced: list[int] = []

    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        self.advanced.append(run_id)


@pytest.fixture
def kicks():
    recorder = KickRecorder()
    set_executor(recorder)
    yield recorder
    set_executor(None)


def test_cancelling_a_queued_run_lets_the_next_one_start(member, workspace, memory_layer, kicks):
    from runs.services import run_cancel
    from runs.services.capacity import runs_to_start

    workspace.max_running_runs = 1
    workspace.save()
    user = member(Role.EDITOR)
    flow = Flow.objects.create(workspace=workspace, name="Orders", graph=ORDER_GRAPH)
    a, b, c = (run_start(user=user, flow=flow, inputs={"n": n}, use_draft=True) for n in (1, 2, 3))
    assert runs_to_start(workspace.pk) == [a.pk]  # first come, first served
    run_cancel(run=a, user=user)
    assert runs_to_start(workspace.pk) == [b.pk]
    assert kicks.advanced[-1:] == [b.pk]  # the freed slot kicked it
    Run.objects.filter(pk=b.pk).update(status="running")
    assert runs_to_start(workspace.pk) == []
    assert c.status == "queued"


def test_slots_freed_together_kick_each_queued_run_once(member, workspace, memory_layer):
    """Two runs finishing before the run kicked into the first freed slot has started: the
    second freed slot kicks the next queued run, not the first one again."""
    workspace.max_running_runs = 2
    workspace.save()
    user = member(Role.EDITOR)
    flow = Flow.objects.create(
        workspace=workspace,
        name="Quick",
        graph=graph(
            [node("start", "input", schema={"type": "object"}), node("end", "output")],
            [edge("start", "end")],
        ),
    )
    runs = [run_start(user=user, flow=flow, inputs={}, use_draft=True) for _ in range(5)]
    a, b, c, d, e = (run.pk for run in runs)
    Run.objects.filter(pk__in=[a, b]).update(status="running")
    kicks = StartKicks()

    Run.objects.filter(pk=a).update(status="succeeded")
    assert kicks.take(workspace.pk) == [c]
    Run.objects.filter(pk=b).update(status="succeeded")
    assert kicks.take(workspace.pk) == [d]  # c, kicked and still queued, holds its slot
    assert kicks.take(workspace.pk) == []
    assert runs_to_start(workspace.pk, kicked={c}) == [d]

    Run.objects.filter(pk=c).update(status="running")  # c started
    Run.objects.filter(pk=d).update(status="succeeded")
    assert kicks.take(workspace.pk) == [e]


def test_a_start_kick_that_had_no_effect_is_sent_again_later(member, workspace, memory_layer):
    """A kick lost on the way (a worker died) does not keep its run queued for ever."""
    workspace.max_running_runs = 1
    workspace.save()
    user = member(Role.EDITOR)
    flow = Flow.objects.create(
        workspace=workspace,
        name="Quick",
        graph=graph(
            [node("start", "input", schema={"type": "object"}), node("end", "output")],
            [edge("start", "end")],
        ),
    )
    first = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    second = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    Run.objects.filter(pk=first.pk).update(status="succeeded")
    kicks = StartKicks(ttl=0)
    assert kicks.take(workspace.pk) == [second.pk]
    assert kicks.take(workspace.pk) == [second.pk]

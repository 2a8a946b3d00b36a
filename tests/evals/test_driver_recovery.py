# ruff: noqa: F811
"""An evaluation outlives the process that drives it: when the driver's heartbeat stops, the
runs sweeper (embedded, or beside Celery workers) drives it, and with workers killed on the way
every item still runs exactly once and is scored once."""

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from evals.models import Evaluation, EvaluationItem
from evals.services import (
    evaluation_advance,
    evaluation_start,
    evaluation_summary,
    evaluation_touch,
    evaluations_without_driver,
)
from runs.executor import CeleryExecutor, InlineExecutor, set_executor
from runs.models import Run, Step
from runs.services.recovery import sweep
from tests.conftest import require_or_skip
from tests.llmserver import last_user_message, text
from tests.runs.support import (  # noqa: F401
    CeleryCluster,
    fast_passwords,
    inline,
    memory_layer,
    services_logged,
    wait_until,
)
from tests.runs.test_celery_worker import redis_available
from tests.runs.test_recovery import crash, drive_until
from tests.runs.test_recovery_celery import Gate
from workspaces.models import Role

from .support import capitals_dataset, qa_flow


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "driver-editor")


class HeldAnswer(Gate):
    """The first matching model call hangs until the test opens the gate; every answer is the
    scripted server's usual one (which names the city, so the item passes)."""

    def __call__(self, request):
        if self._first.acquire(blocking=False):
            self.waiting.set()
            self.opened.wait(120)
        return text(f"Scripted reply: {last_user_message(request)[:60]}")


class Parked:
    """Kicks are collected, not executed: the test plays the workers (and kills some)."""

    def __init__(self):
        self.kicked: list[int] = []

    def advance(self, run_id, *, redispatch=False):
        self.kicked.append(run_id)


def assert_each_item_once(evaluation, flow, killed: int) -> None:
    items = list(EvaluationItem.objects.filter(evaluation=evaluation))
    assert len(items) == 50 and all(i.status == "passed" for i in items)
    assert all(i.scored_at is not None for i in items)
    run_ids = [i.run_id for i in items]
    assert None not in run_ids and len(set(run_ids)) == 50
    assert Run.objects.filter(flow=flow).count() == 50
    assert set(Run.objects.filter(flow=flow).values_list("status", flat=True)) == {"succeeded"}
    lost = Step.objects.filter(run__flow=flow, error_code="worker_lost").count()
    assert lost == killed  # each killed step ran again once; nothing else was repeated
    assert evaluation_summary(evaluation)["cost"] == sum((i.cost for i in items), Decimal(0))


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_finishes_an_evaluation_whose_driver_died_each_item_once(
    inline, workspace, editor
):
    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=50)
    evaluation = evaluation_start(
        user=editor,
        flow=flow,
        dataset=dataset,
        use_draft=True,
        scorers=[{"type": "contains"}],
        concurrency=5,
    )
    set_executor(Parked())
    try:
        # The driver's first pass starts five runs; the worker of each dies in its model call.
        # Then the driver's process dies too: its last heartbeat is all that is left.
        evaluation_touch(evaluation.pk)
        killed = 0
        for run_id in evaluation_advance(evaluation_id=evaluation.pk):
            crash(drive_until(Run.objects.get(pk=run_id), "answer"))
            killed += 1
        # While the heartbeat is fresh the sweeper leaves the evaluation to its driver.
        assert evaluations_without_driver(timezone.now()) == []
        sweep()
        assert Run.objects.filter(flow=flow).count() == 5

        # From here on only the sweeper: it recovers the lost steps and drives the evaluation.
        later = timezone.now() + timedelta(seconds=60)
        assert evaluations_without_driver(later) == [evaluation.pk]
        for _ in range(200):
            for run_id in sorted(sweep(now=later)):
                run = Run.objects.get(pk=run_id)
                if run_id % 9 == 0 and not Step.objects.filter(run=run).exists():
                    crash(drive_until(run, "answer"))  # a worker dies on a new run too
                    killed += 1
                else:
                    InlineExecutor().advance(run_id, redispatch=True)
            evaluation.refresh_from_db()
            if evaluation.is_finished:
                break
    finally:
        set_executor(InlineExecutor())

    assert evaluation.status == "succeeded"
    assert killed >= 7
    assert_each_item_once(evaluation, flow, killed)
    assert not evaluations_without_driver(later)


# ---- Celery: real workers and the beat process's sweeper ----------------------------------------


@pytest.fixture(scope="module")
def cluster(django_db_setup, _llm_server):
    require_or_skip(
        connection.vendor == "postgresql", "Celery integration tests need DATABASE_URL=postgres"
    )
    redis_url = os.environ.get("REDIS_URL", "")
    require_or_skip(redis_available(redis_url), "Celery integration tests need REDIS_URL")
    cluster = CeleryCluster(
        _llm_server.base_url,
        redis_url,
        SWITCHBOARD_LEASE_SECONDS="3",
        SWITCHBOARD_SWEEP_SECONDS="1",
        SWITCHBOARD_REKICK_SECONDS="2",
        SWITCHBOARD_EVAL_DRIVER_STALE_SECONDS="2",
    )
    cluster.purge()
    yield cluster
    cluster.stop()


@pytest.fixture
def celery(cluster, settings, llm_server):
    settings.SWITCHBOARD_EXECUTOR = "celery"
    settings.SWITCHBOARD_CELERY_QUEUE = cluster.queue
    set_executor(CeleryExecutor())
    try:
        with services_logged(cluster):
            cluster.start_beat().wait_for_output("Sweeper started", timeout=45)
            yield cluster
    finally:
        for service in [*cluster.workers, *([cluster.beat] if cluster.beat else [])]:
            service.kill()
        cluster.workers.clear()
        cluster.purge()
        set_executor(None)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_with_celery_an_undriven_evaluation_survives_a_killed_worker(
    celery, workspace, editor, llm_server
):
    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=50)
    gate = HeldAnswer()
    llm_server.on("capital 7 ", gate)  # item 8's model call hangs until the worker is killed
    first = celery.start_worker(concurrency=4)
    # Started, but no process drives it (as if the web process died right after): only the
    # sweeper in the beat process moves it on, once the missing heartbeat is stale.
    evaluation = evaluation_start(
        user=editor,
        flow=flow,
        dataset=dataset,
        use_draft=True,
        scorers=[{"type": "contains"}],
        concurrency=8,
    )
    try:
        assert gate.waiting.wait(60)
        first.kill()
        celery.workers.remove(first)
        celery.start_worker(concurrency=8)

        def finished():
            return Evaluation.objects.filter(pk=evaluation.pk).exclude(status="running").exists()

        wait_until(finished, timeout=180, interval=0.5)
    finally:
        gate.opened.set()
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded"
    items = list(EvaluationItem.objects.filter(evaluation=evaluation).select_related("run"))
    assert len(items) == 50 and all(i.status == "passed" for i in items)
    assert len({i.run_id for i in items}) == 50 and Run.objects.filter(flow=flow).count() == 50
    stuck = next(i for i in items if "capital 7 " in str(i.dataset_item.inputs))
    assert stuck.run.crash_count >= 1
    attempts = list(
        Step.objects.filter(run=stuck.run, node_id="answer").values_list("attempt", "status")
    )
    assert (0, "failed") in attempts and attempts[-1][1] == "succeeded"
    # Only the runs a killed worker held ran a step again.
    for item in items:
        if not item.run.crash_count:
            assert not Step.objects.filter(run=item.run, attempt__gt=0).exists()

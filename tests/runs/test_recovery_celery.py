"""Recovery with Celery: the sweeper runs beside the workers, never behind them; a kick a killed
worker had taken but not started is sent again (never waiting for the broker's one-hour
visibility timeout); a database error in a task is retried, not counted as a crash.

The integration tests run real workers (threads pool) on Redis and PostgreSQL against the
scripted model server; the others drive the tasks eagerly in this process."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

import os
import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from builder.graph import validate_graph
from builder.models import Flow, FlowVersion
from config.celery import app
from runs import tasks
from runs.executor import CeleryExecutor, set_executor
from runs.models import Run, RunEvent, Step
from runs.services import advancing as advancing_service
from runs.services import run_advance, run_start, step_execute
from runs.services.recovery import STALE_QUEUED, rekick_after, sweep
from tests.conftest import require_or_skip
from tests.llmserver import last_user_message, text

from .support import (  # noqa: F401
    CeleryCluster,
    fast_passwords,
    flow_named,
    inline,
    memory_layer,
    model_calls,
    services_logged,
    wait_status,
    wait_until,
)
from .test_celery_worker import redis_available

DRAFTS = ("Draft one", "Draft two")


def _node(node_id, type_, **config):
    return {"id": node_id, "type": type_, "label": node_id, "position": {"x": 0, "y": 0},
            "config": config}  # fmt: skip


def _edge(source, target):
    return {"id": f"{source}-{target}", "source": source, "source_port": "out", "target": target,
            "target_port": "in"}  # fmt: skip


@pytest.fixture
def two_drafts(demo):
    """A flow that fans out: two model calls in parallel branches, so one goes out as a kick."""
    graph = {
        "schema_version": 1,
        "nodes": [
            _node("ask", "input", schema={"type": "object"}, sample={}),
            _node("one", "prompt", prompt="Draft one: a haiku about queues."),
            _node("two", "prompt", prompt="Draft two: a limerick about leases."),
            _node("one_out", "output", name="one"),
            _node("two_out", "output", name="two"),
        ],
        "edges": [
            _edge("ask", "one"),
            _edge("ask", "two"),
            _edge("one", "one_out"),
            _edge("two", "two_out"),
        ],
    }
    assert validate_graph(graph) == []
    flow = Flow.objects.create(workspace=demo["workspace"], name="Two drafts", graph=graph)
    FlowVersion.objects.create(flow=flow, number=1, graph=graph, published=True)
    return flow


class Gate:
    """A scripted reply: the first request waits until the test opens the gate, later ones are
    answered at once. Which step is stuck in a model call is then a fact, not a timing."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.waiting = threading.Event()
        self._first = threading.Lock()

    def __call__(self, request):
        if self._first.acquire(blocking=False):
            self.waiting.set()
            self.opened.wait(120)
        return text(f"Done: {last_user_message(request)[:20]}")


def draft_calls(requests) -> dict[str, int]:
    counts = model_calls(requests)
    return {key: counts.get(key, 0) for key in ("Draft one: a", "Draft two: a")}


# ---- real workers ------------------------------------------------------------------------------


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
    )
    cluster.purge()
    yield cluster
    cluster.stop()


@pytest.fixture
def celery(cluster, settings, llm_server):
    """Kicks from this process go to the cluster's queue; beat (and its sweeper) runs. Each test
    starts its own workers; they are killed afterwards, whatever they were doing."""
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


def start(api, flow) -> int:
    response = api.post(f"/api/flows/{flow.pk}/runs", {})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def lease_pids(run_id: int) -> set[str]:
    owners = Step.objects.filter(run_id=run_id).exclude(lease_owner="")
    return {owner.split(":")[1] for owner in owners.values_list("lease_owner", flat=True)}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_kicks_a_killed_worker_had_reserved_are_sent_again(
    demo, two_drafts, celery, api_for, llm_server
):
    gate = Gate()
    llm_server.on("Draft", gate)
    api = api_for(demo["owner"], token=True)
    # One thread, three messages: the step in a model call, and two kicks waiting for the thread.
    first = celery.start_worker(concurrency=1, prefetch=3)
    try:
        fan_out = start(api, two_drafts)
        assert gate.waiting.wait(30)
        running = Step.objects.get(run_id=fan_out, status="running")
        branch = Step.objects.get(run_id=fan_out, status="queued")
        later = start(api, flow_named("Trip budget"))
        # Nothing left in the broker and both still queued: the worker holds both kicks.
        wait_until(lambda: celery.queue_length() == 0, timeout=10)
        assert Step.objects.get(pk=branch.pk).status == "queued"
        assert Run.objects.get(pk=later).status == "queued"

        first.kill()
        celery.workers.remove(first)
        second = celery.start_worker(concurrency=4)
        wait_status(fan_out, "succeeded", timeout=90)
        wait_status(later, "succeeded", timeout=90)
    finally:
        gate.opened.set()

    # The step in flight ran again; the kicks the dead worker held ran once, on the new worker.
    steps = sorted(Step.objects.filter(run_id=fan_out).values_list("node_id", "attempt", "status"))
    lost = running.node_id
    assert (lost, 0, "failed") in steps and (lost, 1, "succeeded") in steps
    assert [s for s in steps if s[0] == branch.node_id] == [(branch.node_id, 0, "succeeded")]
    assert Step.objects.get(pk=branch.pk).lease_owner.split(":")[1] == str(second.pid)
    calls = draft_calls(llm_server.requests)
    assert calls == {
        "Draft one: a": 2 if lost == "one" else 1,
        "Draft two: a": 2 if lost == "two" else 1,
    }
    assert Run.objects.get(pk=fan_out).crash_count == 1

    trip = Run.objects.get(pk=later)
    assert trip.crash_count == 0
    assert not Step.objects.filter(run=trip, attempt__gt=0).exists()
    assert lease_pids(later) == {str(second.pid)}
    assert model_calls(llm_server.requests).get("A trip to", 0) == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_sweeper_recovers_while_every_worker_thread_is_busy(
    demo, two_drafts, celery, api_for, llm_server
):
    gate = Gate()
    llm_server.on("Draft", gate)
    api = api_for(demo["owner"], token=True)
    celery.start_worker(concurrency=1)
    try:
        busy = start(api, two_drafts)
        assert gate.waiting.wait(30)
        # A run whose worker died mid-step, while the only worker thread waits on a model.
        orphan = run_start(user=demo["owner"], flow=flow_named("Trip budget"), inputs=None)
        (step_id,) = run_advance(run_id=orphan.pk)
        Step.objects.filter(pk=step_id).update(
            status="running",
            started_at=timezone.now(),
            lease_owner="ghost:1:1",
            lease_expires_at=timezone.now() - timedelta(seconds=1),
        )
        wait_until(
            lambda: Step.objects.filter(run=orphan, attempt=1, status="queued").exists(),
            timeout=30,
        )
        assert not gate.opened.is_set()
        assert Run.objects.get(pk=busy).status == "running"
    finally:
        gate.opened.set()
    wait_status(busy, "succeeded", timeout=60)
    wait_status(orphan.pk, "succeeded", timeout=60)
    orphan.refresh_from_db()
    assert orphan.crash_count == 1
    assert Step.objects.get(pk=step_id).error_code == "worker_lost"


@pytest.mark.integration
def test_the_broker_says_which_kicks_have_left_its_queue(settings):
    redis_url = os.environ.get("REDIS_URL", "")
    require_or_skip(redis_available(redis_url), "this test needs REDIS_URL")
    import redis

    settings.SWITCHBOARD_CELERY_QUEUE = f"switchboard-horizon-{os.getpid()}"
    client = redis.Redis.from_url(redis_url)
    previous = app.conf.broker_url
    app.conf.broker_url = redis_url
    tasks._broker_client = None
    try:
        before = timezone.now()
        assert tasks.delivered_before() >= before  # empty: everything sent has left
        sent = time.time()
        tasks.kick_execute(1, 2)
        tasks.kick_execute(1, 3)
        horizon = tasks.delivered_before()
        assert abs(horizon.timestamp() - sent) < 0.5  # the oldest waiting kick's send time
        client.rpop(settings.SWITCHBOARD_CELERY_QUEUE)
        assert tasks.delivered_before() > horizon
    finally:
        client.delete(settings.SWITCHBOARD_CELERY_QUEUE)
        app.conf.broker_url = previous
        tasks._broker_client = None


# ---- the sweeper's rules -----------------------------------------------------------------------


@pytest.fixture
def trip_run(demo, inline):
    return run_start(user=demo["owner"], flow=flow_named("Trip budget"), inputs=None)


def queued_step(run: Run) -> Step:
    """Execute the run until a step waits for a kick; return that step."""
    pending = list(run_advance(run_id=run.pk))
    step_execute(run_id=run.pk, step_id=pending[0], worker="test", chain=False)
    return Step.objects.filter(run=run, status="queued").order_by("pk").first()


@pytest.mark.django_db
def test_a_delivered_kick_without_effect_is_sent_again_soon(trip_run):
    step = queued_step(trip_run)
    wait = rekick_after()
    soon = step.created_at + wait + timedelta(seconds=1)
    # The broker's queue is empty: the kick was delivered, and nobody claimed the step.
    assert sweep(now=soon, delivered_before=soon) == {trip_run.pk}
    assert sweep(now=soon, delivered_before=soon) == set()
    assert sweep(now=soon + wait / 2, delivered_before=soon + wait / 2) == set()
    later = soon + wait + timedelta(seconds=1)
    assert sweep(now=later, delivered_before=later) == {trip_run.pk}


@pytest.mark.django_db
def test_a_kick_still_in_line_is_left_alone_however_long_the_line(trip_run):
    step = queued_step(trip_run)
    # The oldest kick still waiting was sent before this step existed: its kick is behind it.
    in_line = step.created_at - timedelta(seconds=1)
    much_later = step.created_at + timedelta(minutes=10)
    assert sweep(now=much_later, delivered_before=in_line) == set()
    # The line moved past it: now it is lost.
    assert sweep(now=much_later, delivered_before=much_later) == {trip_run.pk}


@pytest.mark.django_db
def test_a_run_whose_start_kick_was_lost_is_kicked_again(trip_run):
    soon = trip_run.created_at + rekick_after() + timedelta(seconds=1)
    assert sweep(now=soon, delivered_before=trip_run.created_at) == set()
    assert sweep(now=soon, delivered_before=soon) == {trip_run.pk}


@pytest.mark.django_db
def test_without_word_from_the_broker_kicks_are_resent_once_per_stale_period(trip_run):
    step = queued_step(trip_run)
    assert sweep(now=step.created_at + rekick_after() + timedelta(seconds=1)) == set()
    stale = step.created_at + STALE_QUEUED + timedelta(seconds=1)
    assert sweep(now=stale) == {trip_run.pk}
    assert sweep(now=stale + STALE_QUEUED / 2) == set()


# ---- database errors ---------------------------------------------------------------------------


class Broker:
    """Kicks sent by tasks, run one after another in this thread, as a worker would take them
    (a task's own retries run at once, as Celery runs them for `apply`)."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, task, args, **options) -> None:
        self.sent.append((task, args))

    def drain(self) -> list:
        results = []
        while self.sent:
            task, args = self.sent.pop(0)
            results.append(task.apply(args=args))
        return results


@pytest.fixture
def broker(settings, memory_layer, llm_server, monkeypatch):
    settings.SWITCHBOARD_EXECUTOR = "celery"
    broker = Broker()
    monkeypatch.setattr(tasks, "_send", broker.send)
    monkeypatch.setattr(tasks, "retry_countdown", lambda retries: 0.0)
    monkeypatch.setattr(advancing_service, "RECORD_BACKOFF", 0.0)
    set_executor(CeleryExecutor())
    yield broker
    set_executor(None)


def fail_first(monkeypatch, module, name: str, times: int = 1) -> list[str]:
    """Make `module.name` raise OperationalError on its first `times` calls, like a dropped
    connection; return the list of failures so far."""
    real = getattr(module, name)
    failures: list[str] = []

    def flaky(*args, **kwargs):
        if len(failures) < times:
            failures.append(name)
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return failures


@pytest.mark.django_db(transaction=True)
def test_a_database_error_outlasting_the_jobs_own_retries_is_retried_by_the_task(
    demo, broker, llm_server, monkeypatch
):
    # Recording a step retries in place a few times first; this error outlasts those.
    times = advancing_service.RECORD_ATTEMPTS
    failures = fail_first(monkeypatch, advancing_service, "step_complete", times)
    run = run_start(user=demo["owner"], flow=flow_named("Trip budget"), inputs=None)
    tasks.kick_advance(run.pk)
    broker.drain()
    run.refresh_from_db()
    assert len(failures) == times
    assert run.status == "succeeded" and run.crash_count == 0
    handed_back = RunEvent.objects.filter(run=run, kind="step.queued").filter(
        data__reason="database_error"
    )
    assert handed_back.count() == 1
    assert not Step.objects.filter(run=run, attempt__gt=0).exists()
    assert model_calls(llm_server.requests) == {"A trip to": 1}


@pytest.mark.django_db(transaction=True)
def test_a_database_error_claiming_a_step_is_retried(
    demo, two_drafts, broker, llm_server, monkeypatch
):
    failures = fail_first(monkeypatch, tasks, "step_claim")
    run = run_start(user=demo["owner"], flow=two_drafts, inputs={})
    tasks.kick_advance(run.pk)
    broker.drain()
    run.refresh_from_db()
    assert failures == ["step_claim"]  # the fan-out branch's kick met the error
    assert run.status == "succeeded" and run.crash_count == 0
    assert draft_calls(llm_server.requests) == {"Draft one: a": 1, "Draft two: a": 1}


@pytest.mark.django_db(transaction=True)
def test_a_database_error_that_persists_ends_as_a_crash_not_a_loop(demo, broker, monkeypatch):
    tries = []

    def down(*args, **kwargs):
        tries.append(1)
        raise OperationalError("too many clients already")

    monkeypatch.setattr(advancing_service, "step_complete", down)
    run = run_start(user=demo["owner"], flow=flow_named("Trip budget"), inputs=None)
    tasks.kick_advance(run.pk)
    (result,) = broker.drain()
    assert isinstance(result.result, OperationalError)
    assert len(tries) == (tasks.DATABASE_RETRIES + 1) * advancing_service.RECORD_ATTEMPTS
    assert broker.sent == []
    # Retried a while without counting a crash; then left to its lease, like a crash.
    run.refresh_from_db()
    assert run.crash_count == 0
    (step,) = Step.objects.filter(run=run)
    assert step.status == "running" and step.lease_owner
    Step.objects.filter(pk=step.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert sweep() == {run.pk}
    run.refresh_from_db()
    assert run.crash_count == 1

"""Recovery: expired leases, parked side effects, dead letters, start-up recovery, lost kicks,
heartbeats, and cancelling while a model call is in flight."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from builder.graph import validate_graph
from builder.models import Flow, FlowVersion
from runs.executor import Executor, Heartbeat, InlineExecutor, dead_local_owners, set_executor
from runs.models import Run, RunEvent, Step
from runs.services import run_advance, run_start, step_execute
from runs.services.recovery import MAX_CRASHES, STALE_QUEUED, sweep
from runs.tools import Tool, registry
from tests.llmserver import text

from .support import (  # noqa: F401
    embedded,
    fast_passwords,
    flow_named,
    inline,
    kinds_by_node,
    memory_layer,
    wait_status,
    wait_until,
)


def drive_until(run: Run, node_id: str) -> int:
    """Execute the run inline until `node_id` is queued; return that step's id."""
    pending = list(run_advance(run_id=run.pk))
    while pending:
        step_id = pending.pop(0)
        step = Step.objects.get(pk=step_id)
        if step.node_id == node_id:
            return step_id
        step_execute(
            run_id=run.pk, step_id=step_id, worker="test", chain=False, kick=pending.extend
        )
    pytest.fail(f"{node_id} was never queued")


def crash(step_id: int, *, owner: str = "ghost:1:1", expired: bool = True) -> None:
    """Leave a step as a worker that died while executing it would."""
    expires = timezone.now() + timedelta(seconds=-1 if expired else 60)
    Step.objects.filter(pk=step_id).update(
        status="running", started_at=timezone.now(), lease_owner=owner, lease_expires_at=expires
    )


@pytest.fixture
def trip_run(demo, inline):
    return run_start(user=demo["owner"], flow=flow_named("Trip budget"), inputs=None)


def test_expired_lease_reexecutes_only_the_lost_step(trip_run, inline):
    explain = drive_until(trip_run, "explain")
    crash(explain)
    assert sweep() == {trip_run.pk}
    InlineExecutor().advance(trip_run.pk, redispatch=True)
    run = Run.objects.get(pk=trip_run.pk)
    assert run.status == "succeeded" and run.crash_count == 1
    attempts = list(
        Step.objects.filter(run=run).values_list("node_id", "attempt", "status", "error_code")
    )
    assert ("explain", 0, "failed", "worker_lost") in attempts
    assert ("explain", 1, "succeeded", "") in attempts
    assert [a for a in attempts if a[1] > 0] == [("explain", 1, "succeeded", "")]
    assert sum(1 for a in attempts if a[0] == "lodging") == 1
    assert inline.call_count == 1  # the lost attempt never reached the model here
    retrying = RunEvent.objects.get(run=run, kind="step.retrying")
    assert retrying.node_id == "explain" and retrying.data["attempt"] == 1


def test_live_leases_are_left_alone(trip_run):
    explain = drive_until(trip_run, "explain")
    crash(explain, expired=False)
    assert sweep() == set()
    assert Step.objects.get(pk=explain).status == "running"


def test_a_run_that_keeps_crashing_workers_is_dead_lettered(trip_run):
    drive_until(trip_run, "explain")
    for crashes in range(1, MAX_CRASHES + 1):
        step = Step.objects.get(run=trip_run, node_id="explain", status="queued")
        crash(step.pk)
        kicked = sweep()
        assert kicked == (set() if crashes == MAX_CRASHES else {trip_run.pk})
    run = Run.objects.get(pk=trip_run.pk)
    assert run.status == "dead_letter"
    assert run.error_code == "dead_letter"
    assert f"stopped {MAX_CRASHES} times" in run.error_message and "explain" in run.error_message
    assert not Step.objects.filter(run=run, status__in=["queued", "running"]).exists()
    assert RunEvent.objects.filter(run=run).last().kind == "run.dead_letter"


@pytest.fixture
def charge_flow(workspace):
    """A flow whose tool is not safe to repeat (it charges a card)."""
    calls = []
    tool = Tool(
        name="charge_card",
        description="Charge a card (not idempotent).",
        parameters={"type": "object", "properties": {"amount": {"type": "number"}}},
        func=lambda arguments, context: calls.append(arguments) or {"charged": True},
        idempotent=False,
    )
    registry.register(tool)

    def node(node_id, type_, **config):
        return {"id": node_id, "type": type_, "label": node_id, "position": {"x": 0, "y": 0},
                "config": config}  # fmt: skip

    graph = {
        "schema_version": 1,
        "nodes": [
            node("ask", "input", schema={"type": "object"}, sample={}),
            node("charge", "tool", tool="charge_card", arguments={"amount": 5}),
            node("done", "output", name="done"),
            node("failed", "output", name="failed"),
        ],
        "edges": [
            {"id": "e1", "source": "ask", "source_port": "out", "target": "charge",
             "target_port": "in"},
            {"id": "e2", "source": "charge", "source_port": "out", "target": "done",
             "target_port": "in"},
            {"id": "e3", "source": "charge", "source_port": "error", "target": "failed",
             "target_port": "in"},
        ],
    }  # fmt: skip
    assert validate_graph(graph) == []
    flow = Flow.objects.create(workspace=workspace, name="Charge", graph=graph)
    FlowVersion.objects.create(flow=flow, number=1, graph=graph, published=True)
    yield flow, calls
    registry.unregister("charge_card")


@pytest.fixture
def parked_run(charge_flow, member, inline):
    flow, calls = charge_flow
    owner = member("owner", "olga")
    run = run_start(user=owner, flow=flow, inputs={})
    crash(drive_until(run, "charge"))
    assert sweep() == {run.pk}
    InlineExecutor().advance(run.pk, redispatch=True)
    return run, owner, calls


def test_a_lost_side_effect_waits_for_a_person(parked_run):
    run, _, calls = parked_run
    run.refresh_from_db()
    assert run.status == "waiting"
    parked = Step.objects.get(run=run, node_id="charge", attempt=1)
    assert parked.status == "needs_attention"
    assert "not safe to repeat" in parked.error_message
    assert calls == []
    assert kinds_by_node(run.pk)["charge"][-1] == "step.needs_attention"


def test_a_person_fails_a_parked_step_down_its_error_port(
    parked_run, api_for, django_capture_on_commit_callbacks
):
    run, owner, calls = parked_run
    parked = Step.objects.get(run=run, node_id="charge", attempt=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(owner, token=True).post(
            f"/api/runs/{run.pk}/steps/{parked.pk}/resolve", {"action": "fail"}
        )
    assert response.status_code == 200, response.content
    run.refresh_from_db()
    assert run.status == "succeeded" and set(run.result) == {"failed"}
    assert calls == []


def test_a_person_retries_a_parked_step(
    parked_run, api_for, member, django_capture_on_commit_callbacks
):
    run, owner, calls = parked_run
    parked = Step.objects.get(run=run, node_id="charge", attempt=1)
    viewer = member("viewer", "vic")
    path = f"/api/runs/{run.pk}/steps/{parked.pk}/resolve"
    assert api_for(viewer).post(path, {"action": "retry"}).status_code == 403
    assert api_for(owner).post(path, {"action": "nope"}).status_code == 422
    with django_capture_on_commit_callbacks(execute=True):
        assert api_for(owner).post(path, {"action": "retry"}).status_code == 200
    run.refresh_from_db()
    assert run.status == "succeeded" and set(run.result) == {"done"}
    assert calls == [{"amount": 5}]
    again = api_for(owner).post(path, {"action": "retry"})
    assert again.status_code == 409 and again.json()["code"] == "not_parked"


class RecordingExecutor(Executor):
    def __init__(self):
        self.kicks = []

    def advance(self, run_id, *, redispatch=False):
        self.kicks.append((run_id, redispatch))


def test_startup_takes_back_what_a_dead_local_process_left_at_once(trip_run, embedded):
    host = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    explain = drive_until(trip_run, "explain")
    crash(explain, owner=f"embedded:{host}:{gone.pid}:7", expired=False)
    alive = os.getppid()
    other = run_start(user=trip_run.created_by, flow=trip_run.flow, inputs=None)
    other_step = drive_until(other, "explain")
    crash(other_step, owner=f"embedded:{host}:{alive}:7", expired=False)

    assert dead_local_owners() == [f"embedded:{host}:{gone.pid}:"]
    recording = RecordingExecutor()
    set_executor(recording)
    embedded.advance = recording.advance
    kicked = embedded.sweep_once(startup=True)
    # Both runs are kicked (this process's kicks died with the last one), but only the dead
    # process's step is taken back; the live process keeps its lease.
    assert kicked == {trip_run.pk, other.pk}
    assert Step.objects.get(pk=explain).status == "failed"
    assert Step.objects.get(pk=other_step).status == "running"
    assert Step.objects.filter(run=trip_run, node_id="explain", attempt=1, status="queued").exists()


def test_lost_kicks_are_sent_again_but_not_on_every_pass(trip_run):
    Run.objects.filter(pk=trip_run.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert sweep() == {trip_run.pk}
    assert sweep() == set()
    assert sweep(now=timezone.now() + STALE_QUEUED + timedelta(seconds=1)) == {trip_run.pk}

    explain = drive_until(trip_run, "explain")
    Step.objects.filter(pk=explain).update(created_at=timezone.now() - timedelta(minutes=1))
    assert sweep() == {trip_run.pk}
    assert sweep() == set()


def test_a_running_run_with_nothing_in_flight_is_kicked(trip_run):
    explain = drive_until(trip_run, "explain")
    step_execute(run_id=trip_run.pk, step_id=explain, worker="test", chain=False)
    # Running with nothing planned, as after a decision that resumed a run whose kick was lost
    # (recording a step plans its successors in the same transaction, so only a kick can go).
    Step.objects.filter(run=trip_run, status="queued").delete()
    past = timezone.now() - timedelta(minutes=1)
    Step.objects.filter(run=trip_run).update(finished_at=past)
    Run.objects.filter(pk=trip_run.pk).update(started_at=past)
    assert sweep() == {trip_run.pk}
    InlineExecutor().advance(trip_run.pk)
    assert Run.objects.get(pk=trip_run.pk).status == "succeeded"


def test_heartbeat_extends_only_its_own_leases(trip_run, settings):
    settings.SWITCHBOARD_LEASE_SECONDS = 60
    explain = drive_until(trip_run, "explain")
    crash(explain, owner="me:1:1")
    heartbeat = Heartbeat()
    heartbeat.add(explain, "someone-else")
    heartbeat.beat()
    assert Step.objects.get(pk=explain).lease_expires_at < timezone.now()
    heartbeat.add(explain, "me:1:1")
    heartbeat.beat()
    assert Step.objects.get(pk=explain).lease_expires_at > timezone.now() + timedelta(seconds=50)
    assert sweep() == set()


def test_heartbeat_extends_every_lease_it_holds_in_one_statement(trip_run, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.SWITCHBOARD_LEASE_SECONDS = 60
    explain = drive_until(trip_run, "explain")
    crash(explain, owner="me:1:2")
    heartbeat = Heartbeat()
    heartbeat.add(explain, "me:1:2")
    for gone in range(10**6, 10**6 + 50):  # steps of other threads, finished meanwhile
        heartbeat.add(gone, f"me:1:{gone}")
    with CaptureQueriesContext(connection) as queries:
        heartbeat.beat()
    assert len(queries.captured_queries) == 1
    assert Step.objects.get(pk=explain).lease_expires_at > timezone.now() + timedelta(seconds=50)


@pytest.mark.django_db(transaction=True)
def test_cancel_during_a_model_call_discards_the_late_result(
    demo, embedded, llm_server, api_for, caplog
):
    # The model answers only when the test lets it, so "cancel did not wait for the model" is
    # an order of events, not a duration.
    release, answered = threading.Event(), threading.Event()

    def late_answer(request):
        release.wait(30)
        answered.set()
        return text("Late answer that nobody wants.")

    llm_server.on("A trip to", late_answer)
    client = api_for(demo["owner"], token=True)
    try:
        run_id = client.post(f"/api/flows/{flow_named('Trip budget').pk}/runs", {}).json()["id"]
        wait_until(lambda: llm_server.call_count >= 1, timeout=15)
        response = client.post(f"/api/runs/{run_id}/cancel")
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
        assert not answered.is_set()  # the cancel came back while the model was still answering
    finally:
        release.set()
    wait_until(answered.is_set, timeout=15)
    assert embedded.wait_idle(timeout=15)
    run = Run.objects.get(pk=run_id)
    assert run.status == "cancelled"
    explain = Step.objects.get(run=run, node_id="explain")
    assert explain.status == "cancelled" and explain.output is None
    assert not Step.objects.filter(run=run, node_id="budget").exists()
    kinds = list(RunEvent.objects.filter(run=run).values_list("kind", flat=True))
    assert kinds[-1] == "run.cancelled"
    assert llm_server.call_count == 1
    assert "Discarding late result" in caplog.text


def test_a_sweep_reads_no_whole_table_of_runs_or_steps(trip_run):
    """The sweeper runs every couple of seconds for as long as the server is up, while runs
    and steps pile up: none of its reads may walk every run or step ever made (an `exclude` of
    the finished statuses did: a scan of all runs per pass)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's query plans (PostgreSQL's planner scans tables this small)")
    drive_until(trip_run, "explain")
    with CaptureQueriesContext(connection) as queries:
        sweep()
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(reads) >= 8  # the sweep's passes, each a read
    scans = []
    with connection.cursor() as cursor:
        for sql in reads:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = [row[-1] for row in cursor.fetchall()]
            scans += [(line, sql[:120]) for line in plan if line.startswith("SCAN runs_")]
    assert scans == []


@pytest.mark.django_db(transaction=True)
def test_an_idle_heartbeat_hands_its_connection_back(trip_run, settings):
    # The heartbeat beats from a thread of its own, with a connection of its own: once it has
    # nothing to extend it must close it, or an idle worker keeps a database session for ever.
    from django.db import connection

    settings.SWITCHBOARD_LEASE_SECONDS = 60
    explain = drive_until(trip_run, "explain")
    crash(explain, owner="me:1:3")
    heartbeat = Heartbeat()
    heartbeat.add(explain, "me:1:3")
    open_after: list[bool] = []

    def beats() -> None:
        connected = False
        for _ in range(2):
            connected = heartbeat.tick(connected)
            open_after.append(connection.connection is not None)
        heartbeat.remove(explain)
        for _ in range(2):
            connected = heartbeat.tick(connected)
            open_after.append(connection.connection is not None)

    thread = threading.Thread(target=beats)
    thread.start()
    thread.join(30)
    assert open_after == [True, True, False, False]
    assert Step.objects.get(pk=explain).lease_expires_at > timezone.now() + timedelta(seconds=50)

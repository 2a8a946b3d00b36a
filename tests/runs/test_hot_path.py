# ruff: noqa: F811
# Fixtures come from .support by import; using them as parameters is not a redefinition.
"""The run path's cost per step: statements and commits, counted so they cannot creep back.

A linear chain's marginal cost is measured as the difference between a long and a short chain
of the same trivial tool steps, so run start, the input node and the end of the run cancel out.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from builder.models import Flow
from runs.executor import InlineExecutor
from runs.leases import worker_name
from runs.models import Recording, Run, RunEvent, Step
from runs.services import run_cancel, run_start
from runs.services.advancing import run_advance, run_steps
from runs.services.lifecycle import event_now, lock_run
from tests.runs.support import embedded, memory_layer  # noqa: F401 - fixtures

# The target is at most 8; the path takes 6 today (lock the run, update the step, insert its
# recordings, its successor and the events, update the run), so any creep fails here.
MAX_STATEMENTS_PER_STEP = 6
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def chain(length: int) -> dict:
    nodes = [{"id": "start", "type": "input", "position": {"x": 0, "y": 0}, "config": {}}]
    for i in range(length):
        nodes.append(
            {
                "id": f"n{i}",
                "type": "tool",
                "position": {"x": 200 * (i + 1), "y": 0},
                "config": {"tool": "calculator", "arguments": {"expression": f"{i} + 1"}},
            }
        )
    nodes.append({"id": "end", "type": "output", "position": {"x": 0, "y": 200}, "config": {}})
    ids = [n["id"] for n in nodes]
    edges = [
        {"id": f"e{i}", "source": a, "target": b}
        for i, (a, b) in enumerate(itertools.pairwise(ids))
    ]
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


def measure(user, workspace, length: int) -> tuple[int, int, Run]:
    """Run a chain inline; return (statements, commits, run) for executing it."""
    flow = Flow.objects.create(workspace=workspace, name=f"chain {length}", graph=chain(length))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    InlineExecutor().advance(run.pk)  # warm the compiled-graph cache, as a worker would be
    run = run_start(user=user, flow=flow, inputs={}, use_draft=False, version=run.version.number)
    with CaptureQueriesContext(connection) as captured:
        InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    # Django logs transaction control (BEGIN, COMMIT, savepoints) among the queries.
    sql = [q["sql"].strip().upper() for q in captured.captured_queries]
    control = [s for s in sql if s.split(" ", 1)[0] in TRANSACTION_CONTROL]
    assert not any(s.startswith(("SAVEPOINT", "ROLLBACK")) for s in control), control
    return len(sql) - len(control), control.count("COMMIT"), run


@pytest.mark.django_db(transaction=True)
def test_a_chain_step_costs_one_commit_and_at_most_eight_statements(
    member, workspace, memory_layer
):
    user = member("editor")
    short_statements, short_commits, short = measure(user, workspace, 5)
    long_statements, long_commits, long = measure(user, workspace, 25)
    extra_steps = long.step_count - short.step_count
    assert extra_steps == 20

    per_step = (long_statements - short_statements) / extra_steps
    assert per_step <= MAX_STATEMENTS_PER_STEP, per_step
    assert (long_commits - short_commits) == extra_steps

    # Each step's result, its events and its successor went out in those commits.
    steps = Step.objects.filter(run=long)
    assert steps.filter(status="succeeded").count() == 27
    assert all(s.lease_expires_at is None and s.finished_at for s in steps)
    kinds = list(RunEvent.objects.filter(run=long).order_by("seq").values_list("kind", flat=True))
    assert kinds.count("step.succeeded") == 27 and kinds.count("step.started") == 27
    assert kinds[-1] == "run.succeeded"
    assert long.last_seq == len(kinds)


@pytest.mark.django_db(transaction=True)
def test_a_chain_step_waits_for_nothing_but_its_commit(member, workspace, memory_layer):
    """On PostgreSQL a chain step's commit is one round trip: the run's lock goes with the
    writes on the condition that the run is as this worker left it, and the successor's id is
    one the chain reserved before, so nothing is read back."""
    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name="chain", graph=chain(6))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    with CaptureQueriesContext(connection) as captured:
        InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    sql = [q["sql"].strip().upper() for q in captured.captured_queries]
    locks = [s for s in sql if s.startswith("SELECT") and "FOR UPDATE" in s]
    returning = [s for s in sql if s.startswith("INSERT") and "RETURNING" in s]
    if connection.vendor == "postgresql":
        # The first planning locks and reads the run; the input's commit reads it once more and
        # reserves ids for the chain; every later step only checks it is unchanged.
        reads = [s for s in locks if s.startswith('SELECT "RUNS_RUN"')]
        assert sum("NEXTVAL" in s for s in reads) == 1, reads
        assert len(reads) == 2, reads
        assert sum(s.startswith("SELECT 1 / COUNT(*)") for s in locks) == 7  # tools and output
        # The run start and the first planning take their ids back; no chain step does.
        assert len(returning) <= 2, returning
    steps = Step.objects.filter(run=run).order_by("created_at", "pk")
    ids = list(steps.values_list("pk", flat=True))
    assert ids == sorted(ids)  # a run's steps still number in the order they were created


def run_changing_during(run_id: int, nth: int, change) -> None:
    """Run a chain in this thread, committing `change` while its `nth` step executes: after
    that step's claim, before its result, as another worker or a person would."""
    worker = worker_name()
    held = []

    @contextlib.contextmanager
    def hold(step_id):
        held.append(step_id)
        if len(held) == nth:
            change()
        yield

    run_steps(run_advance(run_id=run_id, worker=worker), worker=worker, hold=hold, kick=list)


@pytest.mark.django_db(transaction=True)
def test_a_step_commits_from_a_fresh_read_when_its_run_changed(member, workspace, memory_layer):
    """Another transaction's event between a claim and its step's commit: (PostgreSQL) the
    conditional lock fails and nothing of that attempt is kept; the step commits again from the
    run as it is."""
    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name="chain", graph=chain(5))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)

    def note():
        with transaction.atomic():
            event_now(lock_run(run.pk), "run.note", data={"from": "elsewhere"})

    with CaptureQueriesContext(connection) as captured:
        run_changing_during(run.pk, 4, note)  # while n2 runs
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    steps = Step.objects.filter(run=run)
    assert steps.count() == 7 and set(steps.values_list("attempt", flat=True)) == {0}
    assert set(steps.values_list("status", flat=True)) == {"succeeded"}
    assert run.step_count == 7
    kinds = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("kind", flat=True))
    assert kinds.count("run.note") == 1 and kinds.count("step.succeeded") == 7
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, run.last_seq + 1))  # no gap, no event of a failed attempt
    recorded = Recording.objects.filter(step__run=run).values_list("step__node_id", flat=True)
    assert sorted(recorded) == [f"n{i}" for i in range(5)]  # each tool recorded once
    if connection.vendor == "postgresql":
        sql = [q["sql"].lstrip().upper() for q in captured.captured_queries]
        # n2's conditional commit failed and was rolled back, then n2 locked and read the run.
        assert sum(s.startswith("ROLLBACK") for s in sql) == 1
        # Conditional commits: n0 to n4 and the output (n2's failed); the input had no spare ids.
        assert sum(s.startswith("SELECT 1 / COUNT(*)") for s in sql) == 6


@pytest.mark.django_db(transaction=True)
def test_a_cancel_while_a_step_runs_discards_its_result(member, workspace, memory_layer):
    """A cancel between a claim and the step's commit: the result is not kept and nothing
    after it starts."""
    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name="chain", graph=chain(5))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)

    def cancel():
        run_cancel(run=Run.objects.get(pk=run.pk), user=user)

    run_changing_during(run.pk, 4, cancel)  # while n2 runs
    run.refresh_from_db()
    assert run.status == "cancelled"
    statuses = dict(Step.objects.filter(run=run).values_list("node_id", "status"))
    assert statuses["n1"] == "succeeded" and statuses["n2"] == "cancelled"
    assert "n3" not in statuses and "end" not in statuses
    assert not RunEvent.objects.filter(run=run, kind="step.succeeded", node_id="n2").exists()


@pytest.mark.django_db(transaction=True)
def test_a_chain_runs_in_the_job_that_started_it(member, workspace, memory_layer):
    """Every step of a chain is claimed by the worker that ran the step before it."""
    user = member("editor")
    _, _, run = measure(user, workspace, 10)
    owners = set(Step.objects.filter(run=run).values_list("lease_owner", flat=True))
    assert len(owners) == 1 and "" not in owners


def step_kinds(run: Run) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for node_id, kind in (
        RunEvent.objects.filter(run=run).exclude(node_id="").values_list("node_id", "kind")
    ):
        kinds.setdefault(node_id, []).append(kind)
    return kinds


@pytest.mark.django_db(transaction=True)
def test_a_step_claimed_as_it_is_created_starts_without_being_queued(
    member, workspace, memory_layer
):
    # Two events per chain step, not three: `step.queued` at the instant of `step.started`, in
    # the same commit, said nothing more.
    _, _, run = measure(member("editor"), workspace, 3)
    kinds = step_kinds(run)
    assert set(kinds) == {"start", "n0", "n1", "n2", "end"}
    assert all(k == ["step.started", "step.succeeded"] for k in kinds.values()), kinds


@pytest.mark.django_db(transaction=True)
def test_a_successor_left_for_another_worker_is_queued_then_started(
    member, workspace, memory_layer
):
    graph = chain(1)
    graph["nodes"].insert(2, {**graph["nodes"][1], "id": "twin"})
    graph["edges"] = [
        {"id": "a", "source": "start", "target": "n0"},
        {"id": "b", "source": "start", "target": "twin"},
        {"id": "c", "source": "n0", "target": "end"},
        {"id": "d", "source": "twin", "target": "end"},
    ]
    flow = Flow.objects.create(workspace=workspace, name="fan", graph=graph)
    run = run_start(user=member("editor"), flow=flow, inputs={}, use_draft=True)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    kinds = step_kinds(run)
    # Of the two successors of `start`, this worker claimed one as it created it; the other
    # was queued for whoever takes it, and announced again when taken.
    claimed, left = sorted(("n0", "twin"), key=lambda node: len(kinds[node]))
    assert kinds[claimed] == ["step.started", "step.succeeded"]
    assert kinds[left] == ["step.queued", "step.started", "step.succeeded"]


@pytest.mark.django_db(transaction=True)
def test_a_job_hands_its_chain_on_after_its_time(member, workspace, memory_layer, settings):
    """Past SWITCHBOARD_JOB_SECONDS a job stops claiming: each next step is a kick of its own
    (a claim commit of its own), and the run still finishes."""
    settings.SWITCHBOARD_JOB_SECONDS = 0
    user = member("editor")
    _, short_commits, short = measure(user, workspace, 5)
    _, long_commits, long = measure(user, workspace, 25)
    assert long.step_count - short.step_count == 20
    assert long_commits - short_commits == 2 * 20


def fan_out(width: int) -> dict:
    nodes = [{"id": "start", "type": "input", "position": {"x": 0, "y": 0}, "config": {}}]
    edges = []
    for i in range(width):
        nodes.append(
            {
                "id": f"b{i}",
                "type": "tool",
                "position": {"x": 200, "y": 100 * i},
                "config": {"tool": "calculator", "arguments": {"expression": f"{i} * 10"}},
            }
        )
        edges.append({"id": f"in{i}", "source": "start", "target": f"b{i}"})
        edges.append({"id": f"out{i}", "source": f"b{i}", "target": "end"})
    value = " ".join(f"{{{{ nodes.b{i}.output.result }}}}" for i in range(width))
    nodes.append(
        {"id": "end", "type": "output", "position": {"x": 400, "y": 0}, "config": {"value": value}}
    )
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


@pytest.mark.django_db(transaction=True)
def test_fan_out_branches_run_concurrently_and_join_once(member, workspace, embedded):
    """Branches are kicked to other threads; each commit sees the others' (no stale state)."""
    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name="fan", graph=fan_out(6))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    embedded.advance(run.pk)
    assert embedded.wait_idle(timeout=60)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.result == {"result": " ".join(str(i * 10) for i in range(6))}
    steps = list(Step.objects.filter(run=run).values_list("node_id", "attempt", "status"))
    assert sorted(n for n, _, _ in steps) == sorted(["start", "end"] + [f"b{i}" for i in range(6)])
    assert {status for _, _, status in steps} == {"succeeded"}
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, run.last_seq + 1))


class FailOnce:
    """A database that fails the first statement matching `prefix`, like a lock held too long."""

    def __init__(self, prefix: str, message: str = "database is locked"):
        self.prefix, self.message, self.failed = prefix, message, 0

    def __call__(self, execute, sql, params, many, context):
        if not self.failed and sql.lstrip().upper().startswith(self.prefix):
            self.failed += 1
            raise OperationalError(self.message)
        return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_a_step_result_survives_a_database_error_while_recording(member, workspace, memory_layer):
    """The result is recorded again under the step's lease: no lost step, no second execution."""
    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name="chain", graph=chain(3))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    fault = FailOnce('UPDATE "RUNS_STEP" SET "STATUS"')  # the first step's result
    with connection.execute_wrapper(fault):
        InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert fault.failed == 1
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.crash_count == 0
    steps = Step.objects.filter(run=run)
    assert steps.count() == 5 and {s.attempt for s in steps} == {0}
    # Each tool ran once: one recorded call per tool step.
    recorded = Recording.objects.filter(step__run=run).values_list("step__node_id", flat=True)
    assert sorted(recorded) == ["n0", "n1", "n2"]


@pytest.mark.django_db(transaction=True)
def test_an_embedded_job_is_sent_again_after_a_database_error(member, workspace, embedded):
    """A run start whose first plan hits a busy database is retried by the executor itself."""
    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name="chain", graph=chain(2))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    fault = FailOnce('INSERT INTO "RUNS_STEP"')

    def advance_with_fault(run_id, redispatch=False):
        with connection.execute_wrapper(fault):
            return original(run_id, redispatch)

    original = embedded._advance
    embedded._advance = advance_with_fault
    embedded.advance(run.pk)
    assert embedded.wait_idle(timeout=60)
    run.refresh_from_db()
    assert fault.failed == 1
    assert run.status == "succeeded", (run.error_code, run.error_message)


@pytest.mark.django_db(transaction=True)
def test_a_fresh_read_reads_again_only_the_steps_not_settled(member, workspace, memory_layer):
    """After another branch's commit, a step's commit reads only the run's unsettled steps and
    new ones: a settled step never changes, so its row is kept as it was."""
    from runs.services.advancing import _rows, _rows_after

    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name="chain", graph=chain(2))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    InlineExecutor().advance(run.pk)
    known = _rows(run.pk)
    settled = next(r for r in known if r.node_id == "n0")
    settled.output = {"kept": "from before"}  # what a re-read would overwrite
    queued = next(r for r in known if r.node_id == "n1")
    queued.status = "queued"  # as a snapshot taken before n1 finished
    extra = Step.objects.create(run=run, node_id="late", node_type="tool", status="queued")

    with CaptureQueriesContext(connection) as captured:
        rows = _rows_after(run.pk, [r for r in known if r.node_id != "end"])
    by_node = {r.node_id: r for r in rows}
    assert by_node["n0"] is settled and by_node["n0"].output == {"kept": "from before"}
    assert by_node["n1"].status == "succeeded"  # read again: it was not settled
    assert by_node["late"].pk == extra.pk and by_node["end"].status == "succeeded"
    assert [r.pk for r in rows] == sorted(r.pk for r in rows)
    (select,) = [q["sql"] for q in captured.captured_queries]
    assert "NOT IN" in select.upper()

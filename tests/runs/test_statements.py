"""The run path's hand-kept SQL stores and reads exactly what the ORM would."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from builder.models import Flow
from runs.models import Recording, Run, RunEvent, Step
from runs.services import run_start, statements


@pytest.fixture
def run(member, workspace):
    user = member("editor")
    graph = {
        "schema_version": 1,
        "nodes": [
            {"id": "start", "type": "input", "position": {"x": 0, "y": 0}, "config": {}},
            {"id": "end", "type": "output", "position": {"x": 200, "y": 0}, "config": {}},
        ],
        "edges": [{"id": "e", "source": "start", "target": "end"}],
    }
    flow = Flow.objects.create(workspace=workspace, name="two", graph=graph)
    return run_start(user=user, flow=flow, inputs={"q": "ünïcode ✓"}, use_draft=True)


# Values that take each adaptation path: plain str/int/bool, JSON of every shape (a JSON string,
# a JSON null inside a list, nested objects), NULL, a Decimal and aware datetimes.
AWKWARD_OUTPUT = {"text": 'it\'s "quoted" \\ and ✓ <b>', "n": [1, 2.5, None, True], "d": {}}


@pytest.mark.django_db
def test_inserted_steps_read_back_as_the_orm_writes_them(run):
    now = timezone.now()
    step = Step(
        run_id=run.pk,
        node_id="start",
        node_type="input",
        iteration=3,
        status="running",
        output=AWKWARD_OUTPUT,
        ports=["out", "error"],
        details={"why": "a string with 'quotes'"},
        cost=Decimal("0.000123"),
        created_at=now,
        started_at=now,
        lease_owner="w:1",
        lease_expires_at=now + timedelta(seconds=6),
    )
    plain = Step(run_id=run.pk, node_id="end", node_type="output", output="just a string")
    statements.insert([step, plain], returning=True)
    assert step.pk and plain.pk and step.pk != plain.pk
    stored = Step.objects.get(pk=step.pk)
    assert stored.output == AWKWARD_OUTPUT
    assert stored.ports == ["out", "error"]
    assert stored.details == {"why": "a string with 'quotes'"}
    assert stored.cost == Decimal("0.000123")
    assert stored.started_at == now and stored.lease_expires_at == now + timedelta(seconds=6)
    assert stored.iteration == 3 and stored.lease_owner == "w:1"
    assert stored.input is None  # NULL, not JSON null
    assert Step.objects.filter(pk=stored.pk, input__isnull=True).exists()
    assert Step.objects.get(pk=plain.pk).output == "just a string"

    rows = {row[0]: row for row in statements.step_values(run.pk, ("pk", "output", "ports"))}
    assert rows[step.pk] == [step.pk, AWKWARD_OUTPUT, ["out", "error"]]
    assert rows[plain.pk][1] == "just a string"


@pytest.mark.django_db
def test_updates_and_the_run_lock_round_trip(run):
    step = Step.objects.create(run_id=run.pk, node_id="start", node_type="input")
    finished = timezone.now()
    statements.update(
        Step,
        step.pk,
        {"status": "succeeded", "output": AWKWARD_OUTPUT, "finished_at": finished, "cost": 0.5},
    )
    step.refresh_from_db()
    assert (step.status, step.output, step.finished_at) == ("succeeded", AWKWARD_OUTPUT, finished)
    assert step.cost == Decimal("0.5")

    statements.update(Run, run.pk, {"tokens_in": 7, "cost": Decimal("1.25"), "result": None})
    locked = statements.run_locked(run.pk)
    orm = Run.objects.get(pk=run.pk)
    for field in Run._meta.concrete_fields:
        assert getattr(locked, field.attname) == getattr(orm, field.attname), field.name
    assert locked.version_created_at == run.version.created_at
    assert locked.inputs == {"q": "ünïcode ✓"} and locked.cost == Decimal("1.25")
    assert statements.run_locked(run.pk + 10_000) is None


@pytest.mark.django_db
def test_many_rows_are_split_below_the_parameter_limit(run):
    events = [
        RunEvent(run_id=run.pk, seq=1000 + i, kind="step.queued", data={"i": i}) for i in range(400)
    ]
    statements.insert(events)
    stored = RunEvent.objects.filter(run_id=run.pk, seq__gte=1000).order_by("seq")
    assert [e.data["i"] for e in stored] == list(range(400))
    step = Step.objects.create(run_id=run.pk, node_id="start", node_type="input")
    statements.insert(
        [
            Recording(step_id=step.pk, index=i, kind="tool", request={}, response={"i": i})
            for i in range(3)
        ]
    )
    assert [r.response["i"] for r in Recording.objects.filter(step=step).order_by("index")] == [
        0,
        1,
        2,
    ]

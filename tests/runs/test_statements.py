"""The run path's hand-kept SQL stores and reads exactly what the ORM would."""

from __future__ import annotations

from datetime import UTC, timedelta
from datetime import timezone as timezone_of
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.models import Flow
from runs.models import Recording, Run, RunEvent, Step, StepStatus
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


def _step(run, node_id: str) -> Step:
    return Step(run_id=run.pk, node_id=node_id, node_type="tool", created_at=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_reserved_step_ids_are_drawn_with_the_lock_and_used_in_order(run):
    from django.db import connection, transaction

    with transaction.atomic():
        locked = statements.run_locked(run.pk, reserve=3)
        reserved = list(locked.reserved_step_ids)
        steps = [_step(run, "a"), _step(run, "b")]
        statements.insert(steps, returning=True, ids=locked.reserved_step_ids)
    if connection.vendor != "postgresql":
        assert reserved == [] and all(s.pk for s in steps)  # RETURNING filled them in
        return
    assert len(reserved) == 3 and reserved == sorted(reserved)
    assert [s.pk for s in steps] == reserved[:2] and locked.reserved_step_ids == reserved[2:]
    assert set(Step.objects.filter(run=run).values_list("pk", flat=True)) == set(reserved[:2])
    # Too few reserved ids: the rows take theirs from the database instead, after the others.
    with transaction.atomic():
        more = [_step(run, "c"), _step(run, "d")]
        statements.insert(more, returning=True, ids=[reserved[2]])
    assert all(s.pk > reserved[2] for s in more)


@pytest.mark.django_db(transaction=True)
def test_a_batched_block_commits_its_writes_and_then_runs_its_hooks(run):
    from django.db import transaction

    ran = []
    with transaction.atomic(), statements.batched():
        statements.run_locked(run.pk)
        statements.update(Run, run.pk, {"tokens_in": 41})
        statements.insert([RunEvent(run_id=run.pk, seq=90, kind="x", data={"a": 1})])
        transaction.on_commit(lambda: ran.append(Run.objects.get(pk=run.pk).tokens_in))
    assert ran == [41]
    assert RunEvent.objects.get(run=run, seq=90).data == {"a": 1}


@pytest.mark.django_db(transaction=True)
def test_a_batched_block_of_deferred_writes_is_one_round_trip(run):
    """BEGIN, the writes and COMMIT go to PostgreSQL as one message; each write still shows in
    Django's query log as itself."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("batches are PostgreSQL's")
    connection.ensure_connection()
    raw = connection.connection
    sent: list[str] = []
    make_cursor = raw.cursor

    def counting_cursor(*args, **kwargs):
        cursor = make_cursor(*args, **kwargs)
        execute = cursor.execute

        def counted(query, *rest, **kw):
            sent.append(str(query))
            return execute(query, *rest, **kw)

        cursor.execute = counted
        return cursor

    raw.cursor = counting_cursor
    try:
        with (
            CaptureQueriesContext(connection) as captured,
            transaction.atomic(),
            statements.batched(),
        ):
            statements.update(Run, run.pk, {"tokens_in": 51})
            statements.insert([RunEvent(run_id=run.pk, seq=95, kind="x", data={"a": 1})])
    finally:
        del raw.cursor
    assert len(sent) == 1, sent
    assert sent[0].startswith("BEGIN; UPDATE") and sent[0].endswith("; COMMIT"), sent
    logged = [q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    assert logged[0].startswith('UPDATE "runs_run" SET "tokens_in" = 51'), logged
    assert logged[1].startswith('INSERT INTO "runs_runevent"'), logged
    assert Run.objects.get(pk=run.pk).tokens_in == 51
    # The connection's autocommit is Django's again.
    assert raw.autocommit is connection.get_autocommit() is True


@pytest.mark.django_db(transaction=True)
def test_a_failing_batched_write_raises_the_django_error_and_keeps_nothing(run):
    from django.db import IntegrityError, transaction

    RunEvent.objects.create(run_id=run.pk, seq=91, kind="first")
    ran = []
    with pytest.raises(IntegrityError), transaction.atomic(), statements.batched():
        statements.update(Run, run.pk, {"tokens_in": 42})
        statements.insert([RunEvent(run_id=run.pk, seq=91, kind="again")])  # duplicate seq
        statements.update(Run, run.pk, {"tokens_out": 43})
        transaction.on_commit(lambda: ran.append(True))
    assert ran == []
    fresh = Run.objects.get(pk=run.pk)
    assert (fresh.tokens_in, fresh.tokens_out) == (run.tokens_in, run.tokens_out)
    assert list(RunEvent.objects.filter(run=run, seq=91).values_list("kind", flat=True)) == [
        "first"
    ]
    # The connection is usable afterwards.
    assert Run.objects.filter(pk=run.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_batched_block_inside_another_atomic_block_leaves_the_commit_to_it(run):
    from django.db import transaction

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        with transaction.atomic(), statements.batched():
            statements.update(Run, run.pk, {"tokens_in": 44})
        assert Run.objects.get(pk=run.pk).tokens_in == 44
        raise Undo
    assert Run.objects.get(pk=run.pk).tokens_in == run.tokens_in


@pytest.mark.django_db(transaction=True)
def test_orm_statements_in_a_batched_block_are_answered_as_without_one(run):
    from django.db import IntegrityError, transaction

    with transaction.atomic(), statements.batched():
        statements.update(Run, run.pk, {"tokens_in": 45})
        # The ORM reads the row count of its UPDATE: it must see the row.
        assert Run.objects.filter(pk=run.pk).update(tokens_out=46) == 1
        assert Run.objects.get(pk=run.pk).tokens_in == 45
    fresh = Run.objects.get(pk=run.pk)
    assert (fresh.tokens_in, fresh.tokens_out) == (45, 46)

    RunEvent.objects.create(run_id=run.pk, seq=92, kind="first")
    swallowed = []
    with pytest.raises(IntegrityError), transaction.atomic(), statements.batched():
        statements.insert([RunEvent(run_id=run.pk, seq=92, kind="again")])
        # The deferred insert's error comes out before this statement, not inside its handler.
        try:
            Run.objects.filter(pk=run.pk).update(tokens_out=47)
        except IntegrityError:
            swallowed.append(True)
            raise
    assert swallowed == []
    assert Run.objects.get(pk=run.pk).tokens_out == 46


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_VALUES = st.one_of(
    st.text(),
    st.text(alphabet="'\\\"-x\n\x00é✓", max_size=12),
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    st.none(),
    st.decimals(),
    st.floats(),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=st.sampled_from([timezone_of(timedelta(hours=5, minutes=30)), None])),
    st.dates(),
    _JSON.map(lambda obj: connection.ops.adapt_json_value(obj, None)),
    st.sampled_from(list(StepStatus)),
)


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=st.lists(_VALUES, max_size=6))
def test_a_batched_statement_is_bound_as_psycopg_binds_it(params):
    """The step's deferred statements are bound by hand for speed: the text must be what
    psycopg's own client-side binding (`mogrify`) sends, for every value, or be left to it."""
    if connection.vendor != "postgresql":
        pytest.skip("client-side binding is PostgreSQL's")
    sql = "INSERT INTO t VALUES (" + ", ".join(["%s"] * len(params)) + ")"
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        try:
            expected = cursor.mogrify(sql, params)
        except Exception as exc:  # psycopg refuses it (text with NUL): so must the binding
            with pytest.raises(type(exc)):
                statements._bind(cursor, sql, params)
            return
        assert statements._bind(cursor, sql, params) == expected


@pytest.mark.django_db
def test_a_statement_with_other_percent_signs_is_left_to_psycopg():
    if connection.vendor != "postgresql":
        pytest.skip("client-side binding is PostgreSQL's")
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        assert statements._bound(cursor, "SELECT '100%%', %s", [1]) is None
        assert statements._bind(cursor, "SELECT '100%%', %s", [1]) == "SELECT '100%', 1"
        assert statements._bound(cursor, "SELECT %s, %s", [1]) is None  # psycopg says why

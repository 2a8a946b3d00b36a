"""The statements every step of a run executes, as SQL built once per table.

A step costs one lock of its run, one update of its row, one insert of its successors and one of
its events, and one update of the run. Through the ORM each of those compiles its query anew,
which took several times longer than the database took to run it (bench/versus_langgraph.py:
the run lock 430 µs through a queryset, 57 µs as below, on SQLite). So the run path keeps the SQL
of each statement and only adapts the values: every value goes through its field's
`get_db_prep_save` and every value read through the field's converters, exactly as the ORM
would, so what is stored and what is read back are the same as through a queryset.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from typing import Any, TypeVar

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.expressions import Col
from psycopg import sql as psycopg_sql
from psycopg.types.json import Jsonb

from builder.models import FlowVersion
from runs.models import Run, Step

M = TypeVar("M", bound=models.Model)

# SQLite and PostgreSQL both accept this many bound values in one statement and more.
MAX_PARAMS = 900


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _db() -> BaseDatabaseWrapper:
    # The thread's connection itself: `django.db.connection` is a proxy that looks it up again
    # on every attribute, and value adaptation reads a dozen attributes per field.
    return connections[DEFAULT_DB_ALIAS]


Adapt = Callable[[Any, BaseDatabaseWrapper], Any]
_PLAIN = {
    "CharField": str,
    "TextField": str,
    "BooleanField": bool,
    "IntegerField": int,
    "BigIntegerField": int,
    "PositiveIntegerField": int,
    "PositiveSmallIntegerField": int,
    "SmallIntegerField": int,
    "ForeignKey": int,
}


def _adapter(field: models.Field) -> Adapt:
    """The field's `get_db_prep_save`, with its result computed directly for the values a run
    writes (a plain str, int or bool goes as it is; JSON straight to the backend's adapter);
    anything else takes the field's own path."""
    slow = field.get_db_prep_save
    plain = _PLAIN.get(field.get_internal_type())
    if plain is not None:
        return lambda value, db: value if value is None or type(value) is plain else slow(value, db)
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def json_value(value: Any, db: BaseDatabaseWrapper) -> Any:
            if value is None:
                return None
            if isinstance(value, (dict, list, str, int, float, bool)):
                return db.ops.adapt_json_value(value, encoder)
            return slow(value, db)

        return json_value
    return slow


@functools.cache
def _defaults(model: type[models.Model]) -> tuple[tuple[str, Any, Callable[[], Any] | None], ...]:
    """Each field's attname with its default: a value, or a callable to call per instance."""
    # Once per model: the signals `Model.__init__` would send have no receivers for it.
    assert not (signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model))
    out = []
    for f in model._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            out.append((f.attname, None, f.default))
        else:
            out.append((f.attname, f.get_default(), None))  # a constant: None, "", 0, False
    return tuple(out)


def new(model: type[M], **values: Any) -> M:
    """A new, unsaved instance of a model with these attribute values (by attname, e.g.
    `run_id`) and every other field's default, as `model(**values)` makes it.

    `Model.__init__` walks its keyword arguments field by field and sends `pre_init` and
    `post_init`: 7–17 µs for a run event against about 1 here, and a step writes several such
    rows. Only for models with no receivers of those signals (asserted once per model)."""
    obj = model.__new__(model)
    obj._state = ModelState()
    attributes = obj.__dict__
    for attname, constant, factory in _defaults(model):
        if attname in values:
            attributes[attname] = values.pop(attname)
        else:
            attributes[attname] = constant if factory is None else factory()
    if values:
        raise TypeError(f"{model.__name__} has no fields {sorted(values)}")
    return obj


@functools.cache
def _insert_fields(model: type[models.Model], with_pk: bool = False) -> tuple[models.Field, ...]:
    fields = tuple(f for f in model._meta.concrete_fields if with_pk or not f.primary_key)
    # Values are read from the objects as they are: no field may fill itself in on save.
    assert not any(
        getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) for f in fields
    )
    return fields


@functools.cache
def _insert_adapters(model: type[models.Model], with_pk: bool) -> tuple[tuple[str, Adapt], ...]:
    return tuple((f.attname, _adapter(f)) for f in _insert_fields(model, with_pk))


@functools.cache
def _update_adapter(model: type[models.Model], name: str) -> Adapt:
    return _adapter(model._meta.get_field(name))


@functools.cache
def _insert_sql(model: type[models.Model], rows: int, returning: bool, with_pk: bool) -> str:
    fields = _insert_fields(model, with_pk)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {_q(model._meta.db_table)} ({', '.join(_q(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * rows)}"
    )
    return f"{sql} RETURNING {_q(model._meta.pk.column)}" if returning else sql


def insert(
    objs: Sequence[models.Model], *, returning: bool = False, ids: list[int] | None = None
) -> None:
    """INSERT new rows of one model in as few statements as possible (as `bulk_create` does);
    with `returning`, set each object's primary key from the database.

    `ids` are primary keys reserved from the table's sequence beforehand (`run_locked`'s
    `reserve`): when there are enough, the objects take them and nothing needs to come back, so
    the statement can wait in a batch (`batched`). What they use is removed from the list."""
    if not objs:
        return
    db = _db()
    model = type(objs[0])
    attname = model._meta.pk.attname
    with_pk = ids is not None and len(ids) >= len(objs)
    if with_pk:
        assert ids is not None
        for obj, pk in zip(objs, ids, strict=False):
            setattr(obj, attname, pk)
            obj._state.adding = False
            obj._state.db = db.alias
        del ids[: len(objs)]
        returning = False
    adapters = _insert_adapters(model, with_pk)
    per_statement = max(1, MAX_PARAMS // len(adapters))
    for start in range(0, len(objs), per_statement):
        batch = objs[start : start + per_statement]
        params = [adapt(getattr(obj, name), db) for obj in batch for name, adapt in adapters]
        with _cursor() as cursor, deferred() if not returning else nullcontext():
            _execute(cursor, _insert_sql(model, len(batch), returning, with_pk), params)
            if returning:
                for obj, (value,) in zip(batch, cursor.fetchall(), strict=True):
                    setattr(obj, attname, value)
                    obj._state.adding = False
                    obj._state.db = db.alias


@functools.cache
def _update_sql(model: type[models.Model], names: tuple[str, ...]) -> str:
    meta = model._meta
    assignments = ", ".join(f"{_q(meta.get_field(name).column)} = %s" for name in names)
    return f"UPDATE {_q(meta.db_table)} SET {assignments} WHERE {_q(meta.pk.column)} = %s"  # noqa: S608


def update(model: type[models.Model], pk: int, values: dict[str, Any]) -> None:
    """UPDATE one row's fields (by attribute name) to the given values."""
    if not values:
        return
    db = _db()
    names = tuple(values)
    params = [_update_adapter(model, name)(values[name], db) for name in names]
    with _cursor() as cursor, deferred():
        _execute(cursor, _update_sql(model, names), [*params, pk])


class _Reader:
    """Turns raw column values into a model's attribute values, with the ORM's converters."""

    def __init__(self, model: type[models.Model], fields: Iterable[models.Field]) -> None:
        self.model = model
        self.fields = tuple(fields)
        self.attnames = [f.attname for f in self.fields]
        self.columns = [Col(model._meta.db_table, f) for f in self.fields]
        self.converters = [
            connection.ops.get_db_converters(col) + f.get_db_converters(connection)
            for f, col in zip(self.fields, self.columns, strict=True)
        ]

    def values(self, raw: Sequence[Any]) -> list[Any]:
        db = _db()
        out = []
        for value, converters, col in zip(raw, self.converters, self.columns, strict=True):
            for convert in converters:
                value = convert(value, col, db)
            out.append(value)
        return out

    def instance(self, raw: Sequence[Any]) -> models.Model:
        return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, self.values(raw))


@functools.cache
def _run_lock(vendor: str, reserve: bool) -> tuple[str, _Reader, _Reader]:
    run_fields = Run._meta.concrete_fields
    created = FlowVersion._meta.get_field("created_at")
    run_table, version_table = _q(Run._meta.db_table), _q(FlowVersion._meta.db_table)
    columns = ", ".join(f"{run_table}.{_q(f.column)}" for f in run_fields)
    if reserve:
        # Step ids drawn under the run's lock, so a run's steps still number in the order they
        # were created; an id drawn and not used is only a gap.
        sequence = f"pg_get_serial_sequence('{Step._meta.db_table}', '{Step._meta.pk.column}')"
        columns += f", ARRAY(SELECT nextval({sequence}) FROM generate_series(1, %s))"  # noqa: S608
    sql = (
        f"SELECT {columns}, {version_table}.{_q(created.column)} FROM {run_table} "  # noqa: S608
        f"INNER JOIN {version_table} ON ({run_table}.{_q('version_id')} = "
        f"{version_table}.{_q(FlowVersion._meta.pk.column)}) "
        f"WHERE {run_table}.{_q(Run._meta.pk.column)} = %s"
    )
    if connection.features.has_select_for_update_of:
        sql += f" FOR UPDATE OF {run_table}"
    elif connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return sql, _Reader(Run, run_fields), _Reader(FlowVersion, [created])


def run_locked(run_id: int, *, reserve: int = 0) -> Run | None:
    """SELECT a run FOR UPDATE (SQLite: the transaction's write lock already serializes), with
    its version's creation time as `version_created_at`.

    On PostgreSQL, `reserve` step ids come along in the same statement as `reserved_step_ids`
    (for `insert(..., ids=...)`); elsewhere that list is empty."""
    reserving = reserve > 0 and connection.vendor == "postgresql"
    sql, run_reader, version_reader = _run_lock(connection.vendor, reserving)
    with _cursor() as cursor:
        _execute(cursor, sql, [reserve, run_id] if reserving else [run_id])
        raw = cursor.fetchone()
    if raw is None:
        return None
    count = len(run_reader.fields)
    run = run_reader.instance(raw[:count])
    run.version_created_at = version_reader.values(raw[-1:])[0]  # type: ignore[attr-defined]
    run.reserved_step_ids = list(raw[count]) if reserving else []  # type: ignore[attr-defined]
    return run


# The SQLSTATE `run_unchanged` raises when the run is not as the worker last left it.
_MOVED = "22012"  # division_by_zero


@functools.cache
def _run_unchanged_sql() -> str:
    meta = Run._meta
    current = (
        f"SELECT 1 FROM {_q(meta.db_table)} WHERE {_q(meta.pk.column)} = %s "  # noqa: S608
        f"AND {_q('last_seq')} = %s AND {_q('status')} = %s AND NOT {_q('cancel_requested')} "
        "FOR UPDATE"
    )
    # 1 / 0 when the run moved: the statement fails, and with it the transaction, so everything
    # queued behind it (the COMMIT included) is undone without waiting for this answer first.
    return f"SELECT 1 / COUNT(*) FROM ({current}) AS {_q('unchanged')}"  # noqa: S608


def run_unchanged(run: Run) -> None:
    """Lock a run, on the condition that it is as `run` has it (same last event, same status,
    no cancel asked for), without waiting for the answer (PostgreSQL, in `batched()`).

    Every change to a run or to a step that planning reads goes with an event under the run's
    lock, so an unchanged `last_seq` means the worker's snapshot of the run and its steps is
    still the truth. If it is not, the transaction fails with an error `run_moved` recognises.
    Taken first in the transaction, the lock also orders it before anything it writes."""
    with _cursor() as cursor, deferred():
        _execute(cursor, _run_unchanged_sql(), [run.pk, run.last_seq, run.status])


def run_moved(error: BaseException) -> bool:
    """Whether a database error is `run_unchanged` finding the run changed."""
    return getattr(error.__cause__, "sqlstate", None) == _MOVED


class _Batch:
    """The deferred statements of a thread's `batched()` block, waiting to be sent together.

    Outside a batch every statement is its own round trip, and a psycopg pipeline still sends
    (and the server answers) each statement in a packet of its own. Here each deferred statement
    is bound on the client (Django's default `ClientCursor` binding, so the text is what would
    have been sent) and they all go as one simple query, the transaction's BEGIN first and, at
    the end, its COMMIT last: one message, one answer. The connection is put in autocommit for
    the block so that psycopg sends no BEGIN of its own, and put back after."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        #: The block's one Django cursor, made by the first statement (`_cursor`).
        self.cursor: Any = None
        self.pending: list[str] = []
        self.deferring = False
        self.begun = False

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # Django's execute wrapper, the innermost: wrappers outside it (query logging, tests'
        # counters and faults) still see every statement.
        if self.deferring and not many:
            self.pending.append(_bind(context["cursor"].cursor, sql, params))
            return None
        # What waited is sent first, on its own (with the BEGIN if nothing went yet): its error
        # comes out here as psycopg's, which no handler of Django's errors around this
        # statement catches by mistake; `batched` turns it into Django's at the end of the block.
        self.send()
        return execute(sql, params, many, context)

    def send(self, *, commit: bool = False) -> None:
        parts = self.pending
        self.pending = []
        if not self.begun:
            self.begun = True
            parts = ["BEGIN", *parts]
        if commit:
            parts.append("COMMIT")
        if parts and parts != ["BEGIN", "COMMIT"]:  # a block that ran nothing sends nothing
            with self.raw.cursor() as cursor:
                cursor.execute("; ".join(parts))

    def end(self, *, commit: bool) -> None:
        """Send what waits, with the COMMIT if asked; roll back a transaction left open (the
        block failed); give the connection its autocommit setting back."""
        try:
            if commit:
                self.send(commit=True)
        finally:
            self.pending = []
            if not self.raw.closed:
                try:
                    if self.raw.info.transaction_status != _IDLE:
                        self.raw.execute("ROLLBACK")
                finally:
                    self.raw.autocommit = False


class _Sent:
    """What Django's query log reads of a psycopg cursor's last query (`_query.query`)."""

    def __init__(self, text: str) -> None:
        self.query = text.encode()


def _bind(cursor: Any, sql: str, params: Any) -> str:
    """The statement's text with its values bound, as psycopg's client-side binding would send
    it; the cursor shows it as its last query, as if executed, in Django's query log."""
    bound = sql if params is None else _bound(cursor, sql, params) or cursor.mogrify(sql, params)
    cursor._query = _Sent(bound)
    return bound


def _text_literal(text: str) -> str | None:
    # libpq's PQescapeLiteral, which psycopg quotes text with: quotes doubled, and with any
    # backslash, all of them doubled in an E'' string (space first, so that no `--` forms).
    # Text with NUL is left to psycopg, which refuses it.
    if "\x00" in text:
        return None
    text = text.replace("'", "''")
    if "\\" in text:
        return " E'" + text.replace("\\", "\\\\") + "'"
    return "'" + text + "'"


def _number_literal(text: str) -> str:
    return " " + text if text[0] == "-" else text


def _jsonb_literal(value: Jsonb) -> str | None:
    if value.dumps is None:
        return None  # psycopg's global `dumps`, whatever it is set to
    quoted = _text_literal(value.dumps(value.obj))
    return None if quoted is None else quoted + "::jsonb"


def _datetime_literal(value: datetime.datetime) -> str | None:
    if value.tzinfo is not datetime.UTC:
        return None
    return "'" + value.isoformat(" ") + "'::timestamptz"


def _decimal_literal(value: decimal.Decimal) -> str | None:
    return _number_literal(str(value)) if value.is_finite() else None


_INT8 = 2**63
_LITERALS: dict[type, Callable[[Any], str | None]] = {
    str: _text_literal,
    int: lambda value: _number_literal(str(value)) if -_INT8 <= value < _INT8 else None,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "NULL",
    Jsonb: _jsonb_literal,
    datetime.datetime: _datetime_literal,
    datetime.date: lambda value: "'" + value.isoformat() + "'::date",
    decimal.Decimal: _decimal_literal,
}


@functools.lru_cache(maxsize=512)
def _pieces(sql: str) -> tuple[str, ...] | None:
    """The text around a statement's `%s` placeholders; None if it has another `%`. The run
    path's statements are a few strings built once, so this is a lookup for them."""
    pieces = tuple(sql.split("%s"))
    return None if any("%" in piece for piece in pieces) else pieces


def _execute(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """`cursor.execute(sql, params)` on a Django cursor. With psycopg's client-side binding
    (Django's default) the values are bound here as in a batch (`_bound`), the same text
    psycopg would make, instead of psycopg looking up a dumper for each value of a fresh
    cursor: a run's INSERT took 166 µs that way, 53 µs this way."""
    raw = cursor.cursor
    if isinstance(raw, psycopg.ClientCursor):
        text = _bound(raw, sql, params)
        if text is not None:
            cursor.execute(text)
            return
    cursor.execute(sql, params)


def _bound(cursor: Any, sql: str, params: Sequence[Any]) -> str | None:
    """What `cursor.mogrify(sql, params)` gives, made here for the values a step writes.

    psycopg's client-side binding looks up a dumper per value and escapes through libpq: 5–15
    µs a value, about a sixth of a Celery worker's CPU under load (py-spy). For the exact types
    in `_LITERALS` the literal is written as psycopg writes it (a test compares both over
    generated values); any other value gets psycopg's own literal. A statement with a `%`
    that is not a `%s` placeholder is left to psycopg whole (None)."""
    pieces = _pieces(sql)
    if pieces is None or len(pieces) != len(params) + 1:
        return None
    out = [pieces[0]]
    for value, piece in zip(params, pieces[1:], strict=True):
        literal = _LITERALS.get(type(value))
        if literal is not None:
            text = literal(value)
        elif isinstance(value, str):  # a str enum (a step's status): psycopg dumps its text
            text = _text_literal(str.__str__(value))
        else:
            text = None
        if text is None:
            text = psycopg_sql.Literal(value).as_string(cursor)
        out.append(text)
        out.append(piece)
    return "".join(out)


_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE
_local = threading.local()


@contextmanager
def deferred() -> Iterator[None]:
    """Statements executed here whose result nobody reads (no row count, no RETURNING) may wait
    in an enclosing `batched()` block, to be sent with the next one that is answered or with
    the commit."""
    state: _Batch | None = getattr(_local, "batch", None)
    if state is None or state.deferring:
        yield
        return
    state.deferring = True
    try:
        yield
    finally:
        state.deferring = False


@contextmanager
def batched() -> Iterator[None]:
    """On PostgreSQL, send the block's `deferred()` statements together with the next statement
    that must be answered, or with the transaction's COMMIT at the end: a block whose statements
    are all deferred is one round trip, BEGIN to COMMIT.

    Enter it first thing in an outermost `transaction.atomic()` block; elsewhere, on another
    database or with server-side binding, it does nothing. Every other statement is answered
    at once, after what waited before it, so it behaves as it would without a batch. A deferred
    statement's error is raised at the next statement that waits or at the end of the block, at
    the latest, as the database error Django would have raised; nothing of the block is kept.
    The hooks registered with `on_commit` run after the commit as usual.
    """
    db = _db()
    raw = db.connection
    if (
        db.vendor != "postgresql"
        or getattr(_local, "batch", None) is not None
        or len(db.atomic_blocks) != 1
        or db.savepoint_ids
        or db.settings_dict.get("OPTIONS", {}).get("server_side_binding")
        or raw is None
        or raw.info.transaction_status != _IDLE
    ):
        yield
        return
    raw.autocommit = True
    _local.batch = state = _Batch(raw)
    try:
        with db.wrap_database_errors, db.execute_wrapper(state):
            try:
                yield
            except BaseException:
                state.end(commit=False)
                raise
            state.end(commit=not db.needs_rollback)
    finally:
        _local.batch = None
        if state.cursor is not None:
            with suppress(db.Database.Error):
                state.cursor.close()


@contextmanager
def _cursor() -> Iterator[Any]:
    """A cursor of the thread's connection. In a `batched()` block, the block's own: its
    statements share one (a Django cursor and its psycopg cursor cost about 8 µs to make)."""
    state: _Batch | None = getattr(_local, "batch", None)
    if state is None:
        with _db().cursor() as cursor:
            yield cursor
        return
    if state.cursor is None:
        state.cursor = _db().cursor()
    yield state.cursor


@functools.cache
def _step_rows(fields: tuple[str, ...]) -> tuple[str, _Reader]:
    meta = Step._meta
    columns = [meta.get_field("id" if name == "pk" else name) for name in fields]
    sql = (
        f"SELECT {', '.join(_q(f.column) for f in columns)} FROM {_q(meta.db_table)} "  # noqa: S608
        f"WHERE {_q(meta.get_field('run').column)} = %s"
    )
    return sql, _Reader(Step, columns)


def step_values(
    run_id: int, fields: tuple[str, ...], *, except_ids: Sequence[int] = ()
) -> list[list[Any]]:
    """The named fields of every step of a run but `except_ids` (`values_list` without the
    query building)."""
    sql, reader = _step_rows(fields)
    params: list[Any] = [run_id]
    if except_ids:
        sql += f" AND {_q(Step._meta.pk.column)} NOT IN ({', '.join(['%s'] * len(except_ids))})"
        params += except_ids
    with _cursor() as cursor:
        _execute(cursor, sql, params)
        return [reader.values(raw) for raw in cursor.fetchall()]

"""Querysets compiled once: the hot reads of every API call, without the ORM's query building.

A run start reads the caller's token, the flow with the caller's role and the published
version. Through querysets, building and compiling those three queries took about 45% of the
start's CPU, several times what the database took to answer them. `prepared` builds the
queryset once per connection (per thread) with placeholder values, keeps its SQL and the
compiler that knows how to read it back, and from then on only swaps the values in: rows come
back as model instances through the ORM's own converters, `select_related` and annotations, so
callers get exactly what the queryset would have given.

    token = prepared_first(
        "token_by_hash",
        lambda h: ApiToken.objects.select_related("user").filter(token_hash=h),
        digest,
    )

The builder must pass each argument straight to a lookup whose database value is the argument
itself (an `exact` on a char or integer field or a primary key, a model instance's pk): the
arguments are found in the compiled query's parameters by value, which a placeholder makes
unambiguous. Anything else (a `contains`, a date) is refused when the query is first prepared.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators


class _Placeholder(int):
    """An argument while the query is prepared: an int no real id is, with a string twin."""

    @property
    def text(self) -> str:
        return f"\x00prepared-{int(self)}\x00"


_BASE = 2**62
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class _Prepared:
    sql: str
    params: list[Any]
    # For each parameter position, the index of the argument it takes, or None for a constant.
    slots: list[int | None]
    compiler: Any
    init_list: list[str]
    fields_start: int
    fields_end: int
    populators: list[Any]
    annotations: list[tuple[str, int]]
    # The ORM's converters of each column (what `results_iter` would look up on every call).
    converters: dict[int, Any]

    def rows(self, args: tuple[Any, ...]) -> list[Any]:
        if any(type(arg) is int and not _INT64_MIN <= arg <= _INT64_MAX for arg in args):
            # No 64-bit column holds it, so an exact lookup matches nothing (as the ORM says);
            # the database driver would raise instead.
            return []
        params = [
            value if slot is None else _value(args[slot])
            for value, slot in zip(self.params, self.slots, strict=True)
        ]
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            raw = cursor.fetchall()
        model = self.compiler.klass_info["model"]
        out = []
        rows = self.compiler.apply_converters(raw, self.converters) if self.converters else raw
        for row in rows:
            obj = model.from_db(
                DEFAULT_DB_ALIAS, self.init_list, row[self.fields_start : self.fields_end]
            )
            for populator in self.populators:
                populator.populate(row, obj)
            for name, position in self.annotations:
                setattr(obj, name, row[position])
            out.append(obj)
        return out


def _value(arg: Any) -> Any:
    pk = getattr(arg, "pk", None)
    return arg if pk is None else pk


def _prepare(build: Callable[..., QuerySet], count: int) -> _Prepared:
    placeholders = [_Placeholder(_BASE + i) for i in range(count)]
    queryset = build(*placeholders)
    compiler = queryset.query.get_compiler(using=DEFAULT_DB_ALIAS)
    sql, params = compiler.as_sql()
    by_value: dict[Any, int] = {}
    for i, placeholder in enumerate(placeholders):
        by_value[int(placeholder)] = i
        by_value[placeholder.text] = i
    slots = [by_value.get(value) if isinstance(value, (int, str)) else None for value in params]
    missing = set(range(count)) - {slot for slot in slots if slot is not None}
    if missing:
        raise ValueError(
            f"prepared query: argument(s) {sorted(missing)} did not reach the SQL as themselves"
        )
    select, klass_info = compiler.select, compiler.klass_info
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    return _Prepared(
        sql=sql,
        params=list(params),
        slots=slots,
        compiler=compiler,
        init_list=[column[0].target.attname for column in select[start:end]],
        fields_start=start,
        fields_end=end,
        populators=get_related_populators(klass_info, select, DEFAULT_DB_ALIAS),
        annotations=sorted(compiler.annotation_col_map.items(), key=operator.itemgetter(1)),
        converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
    )


def prepared(name: str, build: Callable[..., QuerySet], *args: Any) -> list[Any]:
    """The instances `build(*args)` would return, its SQL compiled once per connection under
    `name` (one name, one builder). String arguments are passed to `build` as placeholders that
    look like text, integers (and instances, by their pk) as ones that look like ids."""
    connection = connections[DEFAULT_DB_ALIAS]
    cache: dict[str, _Prepared] = connection.__dict__.setdefault("_switchboard_prepared", {})
    query = cache.get(name)
    if query is None:
        query = cache[name] = _prepare_typed(build, args)
    return query.rows(args)


def prepared_first(name: str, build: Callable[..., QuerySet], *args: Any) -> Any:
    """The first instance of `prepared(...)` (the builder orders and limits), or None."""
    rows = prepared(name, build, *args)
    return rows[0] if rows else None


def _prepare_typed(build: Callable[..., QuerySet], args: tuple[Any, ...]) -> _Prepared:
    kinds = [isinstance(arg, str) for arg in args]

    def typed(*placeholders: _Placeholder) -> QuerySet:
        return build(*(p.text if text else p for p, text in zip(placeholders, kinds, strict=True)))

    return _prepare(typed, len(args))

"""The filters templates use, bounded, and the internal ones the rewritten syntax tree calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import update_wrapper
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context, markup_join, str_join

from .budget import (
    MAX_EMITTED_CHARS,
    MAX_ITEMS,
    built,
    counted,
    current,
    is_whole,
    limit_chars,
    refuse,
    size_of,
    tick,
)
from .growth import percent_size, replace_size

# The internal filters the rewritten syntax tree calls. A template could name them too: harmless,
# they only count and check.
ITERATE, EMIT, CONCAT, SLICED = (
    "_bounded_iterate",
    "_bounded_emit",
    "_bounded_concat",
    "_bounded_sliced",
)

# Filters that grow their input: refuse before they run.


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _center(value: Any, width: Any = 80, *rest: Any, **kw: Any) -> None:
    if is_whole(width):
        limit_chars(max(size_of(value), width), "the centred text")


def _indent(value: Any, width: Any = 4, *rest: Any, **kw: Any) -> None:
    indent = len(width) if isinstance(width, str) else width if is_whole(width) else 0
    lines = _text(value).count("\n") + 1
    limit_chars(size_of(value) + lines * max(0, indent), "the indented text")


# textwrap cuts a long word one line at a time, copying the rest each time: quadratic.
MAX_WRAP_WORK = 20_000_000


def _wordwrap(value: Any, width: Any = 79, *rest: Any, **kw: Any) -> None:
    wrapstring = kw.get("wrapstring", rest[1] if len(rest) > 1 else None) or "\n"
    text = _text(value)
    columns = max(1, width if is_whole(width) else 1)
    lines = len(text) // columns + text.count("\n") + 1
    limit_chars(len(text) + lines * size_of(wrapstring), "the wrapped text")
    longest = max(map(len, text.split()), default=0)
    if longest > columns and longest * longest // columns > MAX_WRAP_WORK:
        refuse(f"wrapping a word of {longest:,} characters at width {columns} takes too long")


def _replace(value: Any, old: Any = "", new: Any = "", count: Any = None, **kw: Any) -> None:
    text = _text(value)
    size = replace_size(text, _text(old), new, -1 if count is None else count)
    limit_chars(size, "the replaced text")


def _format(value: Any, *args: Any, **kwargs: Any) -> None:
    limit_chars(percent_size(_text(value), kwargs or args), "the formatted text")


def _items_at_most(count: Any, what: str) -> None:
    if is_whole(count) and count > MAX_ITEMS:
        refuse(f"{what} of {count:,} is over the limit of {MAX_ITEMS:,}")


def _batch(value: Any, linecount: Any = 1, *rest: Any, **kw: Any) -> None:
    _items_at_most(linecount, "a batch size")


def _slice(value: Any, slices: Any = 1, *rest: Any, **kw: Any) -> None:
    _items_at_most(slices, "a number of slices")


def _sum(value: Any, attribute: Any = None, start: Any = 0, **kw: Any) -> None:
    start = kw.get("start", start)
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        refuse("sum adds numbers only")


def _join_check(value: Any, d: Any = "", attribute: Any = None) -> Any:
    """Refuse a join that would be too long; return the items (an iterator becomes a list)."""
    items = value if isinstance(value, (str, list, tuple)) else list(counted(value))
    size = max(0, len(items) - 1) * size_of(d)
    if attribute is None and not isinstance(items, str):
        size += sum(size_of(item) for item in items)
    limit_chars(size, "the joined text")
    return items


def _whole_value(value: Any, *rest: Any, **kw: Any) -> None:
    limit_chars(size_of(value), "the text of the value")


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "format": _format,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
    **dict.fromkeys(
        ("tojson", "pprint", "string", "urlencode", "xmlattr", "e", "escape", "forceescape"),
        _whole_value,
    ),
}


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter: check the budget, refuse growth it can foresee, measure what it returns."""
    passes = getattr(getattr(func, "jinja_pass_arg", None), "name", None)
    check = _FILTER_CHECKS.get(name)

    def bounded(context: Context, value: Any = None, *args: Any, **kwargs: Any) -> Any:
        tick()
        if check is not None:
            check(value, *args, **kwargs)
        if name == "join":
            value = _join_check(value, *args, **kwargs)
        if passes == "context":
            result = func(context, value, *args, **kwargs)
        elif passes == "eval_context":
            result = func(context.eval_ctx, value, *args, **kwargs)
        elif passes == "environment":
            result = func(context.environment, value, *args, **kwargs)
        else:
            result = func(value, *args, **kwargs)
        return built(result, value, *args, *kwargs.values())

    return pass_context(update_wrapper(bounded, func))


@pass_context
def iterate(context: Context, iterable: Any) -> Iterator[Any]:
    return counted(iterable)


@pass_context
def emit(context: Context, value: Any) -> Any:
    """Measure one piece of output (template text or an expression's value) before it is kept."""
    if isinstance(value, str):
        size = len(value)
    else:
        size = size_of(value)
        limit_chars(size, "a value")
    budget = current()
    if budget is not None:
        budget.deadline.check()
        budget.emitted += size
        if budget.emitted > MAX_EMITTED_CHARS:
            refuse(f"it produced over {MAX_EMITTED_CHARS:,} characters of output")
    return value


@pass_context
def concat(context: Context, parts: list[Any]) -> str:
    tick()
    limit_chars(sum(size_of(part) for part in parts), "the joined text")
    return built((markup_join if context.eval_ctx.autoescape else str_join)(parts), *parts)


@pass_context
def sliced(context: Context, value: Any) -> Any:
    tick()
    return built(value)

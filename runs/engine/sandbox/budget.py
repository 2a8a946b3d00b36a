"""One render's budget: its deadline, loop iterations, characters built and output."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..limits import Deadline, EvaluationLimit, text_size

RENDER_SECONDS = 1.0
MAX_LOOP_ITERATIONS = 250_000
# One value may be as large as the largest data a step holds (a tool result is at most 8 MB).
MAX_VALUE_CHARS = 16_000_000
# Everything one render builds (strings and lists from operators, filters, calls, slices) and
# everything it outputs (macros and {% set %} blocks included), counted as it goes.
MAX_BUILT_CHARS = 64_000_000
MAX_EMITTED_CHARS = 10_000_000
MAX_INT_BITS = 100_000
MAX_ITEMS = 100_000


class RenderBudget:
    """What one render may still spend: its deadline, loop iterations and characters output."""

    __slots__ = ("built", "deadline", "emitted", "iterations")

    def __init__(self, seconds: float) -> None:
        self.deadline = Deadline(seconds, "it")
        self.iterations = 0
        self.emitted = 0
        self.built = 0


_budget: ContextVar[RenderBudget | None] = ContextVar("switchboard_render_budget", default=None)


@contextmanager
def rendering(seconds: float | None = None) -> Iterator[RenderBudget]:
    """Give the renders in this block one budget (RENDER_SECONDS unless told otherwise)."""
    budget = RenderBudget(RENDER_SECONDS if seconds is None else seconds)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def current() -> RenderBudget | None:
    """Return the budget of the render running in this thread, if any."""
    return _budget.get()


def tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.deadline.check()


def refuse(reason: str) -> None:
    """Stop the render: what it was about to do is over the budget, and `reason` says how."""
    raise EvaluationLimit(reason)


def limit_chars(size: int, what: str) -> None:
    if size > MAX_VALUE_CHARS:
        refuse(f"{what} would be over {MAX_VALUE_CHARS:,} characters")


def size_of(value: Any) -> int:
    return text_size(value, MAX_VALUE_CHARS)


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def over_value() -> str:
    return f" would be over {MAX_VALUE_CHARS:,} characters"


def built(value: Any, *sources: Any) -> Any:
    """Measure a value an operation returned and count it against the render's budget.

    A value that is one of the operation's own operands was not built; it is not counted.
    """
    if not isinstance(value, (str, bytes, list, tuple, dict)) or not value:
        return value
    if any(value is source for source in sources):
        return value
    size = size_of(value)
    limit_chars(size, "a value")
    budget = _budget.get()
    if budget is not None:
        budget.built += size
        if budget.built > MAX_BUILT_CHARS:
            refuse(f"it built over {MAX_BUILT_CHARS:,} characters of values")
    return value


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Iterate, counting each item against the render's loop budget."""
    budget = _budget.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > MAX_LOOP_ITERATIONS:
            refuse(f"its loops ran more than {MAX_LOOP_ITERATIONS:,} times")
        budget.deadline.check()
        yield item

"""Budgets for evaluating what people and models write: templates, JSON Schemas, queries.

An evaluation gets a deadline and checks it as it goes: Python threads cannot be killed, so the
check has to run inside the evaluation, from the hooks it already passes through. Whatever would
build a large value is measured before it is built. `stop_when` lets the caller (a run's
executor) stop every evaluation of a step early, for instance when the run is cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# How long one regex may search: rules, routers and JSON Schema `pattern` use the same figure.
REGEX_TIMEOUT_SECONDS = 0.5
# How often (seconds) a deadline asks its `stop_when` callback whether to stop.
STOP_POLL_SECONDS = 0.02

_should_stop: ContextVar[Callable[[], bool] | None] = ContextVar(
    "switchboard_should_stop", default=None
)


class EvaluationLimit(Exception):
    """An evaluation went over its time or size budget; the message says which, for people."""


@contextmanager
def stop_when(should_stop: Callable[[], bool]) -> Iterator[None]:
    """Stop every evaluation started in this block once `should_stop()` is true.

    `should_stop` is polled every ~20 ms while an evaluation runs, so it must be cheap (an
    `Event.is_set`, or a check that caches its answer).
    """
    token = _should_stop.set(should_stop)
    try:
        yield
    finally:
        _should_stop.reset(token)


class Deadline:
    """The time an evaluation must end by, and the caller's wish to stop it; cheap to check."""

    __slots__ = ("_next_poll", "_should_stop", "expires", "seconds", "what")

    def __init__(self, seconds: float, what: str) -> None:
        now = time.monotonic()
        self.seconds = seconds
        self.what = what
        self.expires = now + seconds
        self._should_stop = _should_stop.get()
        self._next_poll = now + STOP_POLL_SECONDS

    def remaining(self) -> float:
        """Return the seconds left (0 when the deadline has passed)."""
        return max(0.0, self.expires - time.monotonic())

    def check(self) -> None:
        """Raise EvaluationLimit if the time is up or the caller asked to stop."""
        now = time.monotonic()
        if now > self.expires:
            raise EvaluationLimit(f"{self.what} ran for more than {self.seconds:g} s")
        if self._should_stop is not None and now >= self._next_poll:
            self._next_poll = now + STOP_POLL_SECONDS
            if self._should_stop():
                raise EvaluationLimit("its run was cancelled")


def text_size(value: Any, limit: int) -> int:
    """Estimate the length of `value` as text (str() or JSON), walking no further past `limit`.

    Shared references count every time they appear, as they would once printed: a list holding
    the same long string a thousand times is a thousand long strings.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, range):
            total += 2 + len(item) * (len(str(item.stop)) + 2)
        else:
            total += 16
        if total > limit:
            return total
    return total


class SizeMeter:
    """Measure values as JSON text, remembering containers already measured.

    For evaluations that build values out of values (a query's stages): each new container costs
    only its own items, so a value that doubles by sharing references is measured in linear time.
    """

    def __init__(self) -> None:
        # id → (the container, kept alive so its id is not reused; its size)
        self._sizes: dict[int, tuple[Any, int]] = {}

    def size(self, value: Any) -> int:
        """Return the size of `value` as JSON text, approximately (within a few percent)."""
        if isinstance(value, str):
            return len(value) + 2
        if not isinstance(value, (list, tuple, dict)):
            return text_size(value, 0) if value is not None else 4
        known = self._sizes.get(id(value))
        if known is not None:
            return known[1]
        if isinstance(value, dict):
            total = 2 + sum(len(str(k)) + 4 + self.size(v) for k, v in value.items())
        else:
            total = 2 + sum(self.size(v) + 1 for v in value)
        self._sizes[id(value)] = (value, total)
        return total

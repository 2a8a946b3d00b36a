"""Kicks: hand the runs that services say must move on to the configured executor.

Services return what must be kicked and never import an executor; the edges (API, views,
commands, the admin) pass it here. A kick is sent once the current transaction commits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from django.db import transaction

from runs.executor import executor


def kick(run_id: int | None, *, redispatch: bool = False) -> None:
    """Advance a run once the current transaction commits (now, outside one)."""
    if run_id is not None:
        transaction.on_commit(lambda: executor().advance(run_id, redispatch=redispatch))


def kick_all(run_ids: Iterable[int], *, redispatch: bool = False) -> None:
    for run_id in run_ids:
        kick(run_id, redispatch=redispatch)


class StartKicks:
    """The queued runs this process kicked into a freed slot, for a while: slots that free
    together must not each kick the same queued runs again (each kick is a transaction that
    locks the run and its workspace only to find it started already, or still without a slot).

    Per process: with Celery, each worker remembers its own. A kick that is lost is sent again
    once `ttl` has passed and a slot frees, or by the sweeper.
    """

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._kicked: dict[int, float] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._lock = threading.Lock()

    def take(self, workspace_id: int) -> list[int]:
        """The queued runs of the workspace to kick now (recorded as kicked)."""
        from runs.services.capacity import runs_to_start

        with self._lock:
            lock = self._locks.setdefault(workspace_id, threading.Lock())
        # One refill of a workspace at a time in this process: two at once would both see the
        # same queued runs before either recorded them.
        with lock:
            now = time.monotonic()
            with self._lock:
                for run_id in [r for r, at in self._kicked.items() if now - at >= self.ttl]:
                    del self._kicked[run_id]
                kicked = set(self._kicked)
            run_ids = runs_to_start(workspace_id, kicked=kicked)
            with self._lock:
                self._kicked.update(dict.fromkeys(run_ids, now))
        return run_ids


start_kicks = StartKicks()


def kick_freed_slot(sender: object, *, workspace_id: int, **kwargs: object) -> None:
    """A run of the workspace left its slot: start the queued runs that fit now."""
    kick_all(start_kicks.take(workspace_id))

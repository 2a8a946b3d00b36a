"""Leases on running steps: who holds one, and the heartbeat that keeps them alive.

A step being executed holds a lease that its worker's heartbeat extends three times per lease
period; the sweeper takes back steps whose lease ran out (their worker died).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def heartbeat_interval() -> float:
    """Beat three times per lease, so one late beat never loses a healthy step."""
    return max(0.2, settings.SWITCHBOARD_LEASE_SECONDS / 3)


def sweep_interval() -> float:
    return float(
        getattr(settings, "SWITCHBOARD_SWEEP_SECONDS", None)
        or os.environ.get("SWITCHBOARD_SWEEP_SECONDS")
        or 2.0
    )


class Executor:
    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        raise NotImplementedError


class InlineExecutor(Executor):
    """Run every step in the calling thread until the run finishes or waits."""

    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        from runs.services import run_advance, step_execute

        pending = list(run_advance(run_id=run_id, redispatch=redispatch))
        while pending:
            step_execute(step_id=pending.pop(0), worker=worker_name())
            pending.extend(run_advance(run_id=run_id))


#: Steps per heartbeat statement (two parameters each, well under SQLite's and PostgreSQL's
#: limits).
BEAT_BATCH = 400


class Heartbeat:
    """Extends the leases of the steps this process is executing."""

    def __init__(self) -> None:
        self.steps: dict[int, str] = {}
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, step_id: int, worker: str) -> None:
        with self.lock:
            self.steps[step_id] = worker

    def remove(self, step_id: int) -> None:
        with self.lock:
            self.steps.pop(step_id, None)

    def beat(self) -> bool:
        """Extend the leases held now; False when there were none (nothing was written)."""
        from runs.models import Step, StepStatus

        with self.lock:
            owned = dict(self.steps)
        if not owned:
            return False
        expires = timezone.now() + timedelta(seconds=settings.SWITCHBOARD_LEASE_SECONDS)
        # One statement for all of them (a write per step was one SQLite write lock and commit
        # each, up to one per executor thread every beat, queued behind the steps' commits).
        # Matching the owners as a set is as strict as pairwise: every owner named is a thread
        # of this process, and a step another process took over has an owner not named here.
        items = list(owned.items())
        for start in range(0, len(items), BEAT_BATCH):
            batch = dict(items[start : start + BEAT_BATCH])
            Step.objects.filter(
                pk__in=batch, status=StepStatus.RUNNING, lease_owner__in=set(batch.values())
            ).update(lease_expires_at=expires)
        return True

    def tick(self, connected: bool) -> bool:
        """One beat of the loop; returns whether this thread holds database connections after it.

        A beat with nothing to extend after one that wrote closes this thread's connections: a
        process idle between bursts would otherwise keep a database session open for ever (on
        PostgreSQL one taken from the pool and never given back, idle in the server's list).
        """
        if self.beat():
            return True
        if connected:
            connections.close_all()
        return False

    def start(self) -> None:
        """Beat from a daemon thread until `stop()`; starting twice is a no-op."""
        with self.lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="switchboard-heartbeat", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        connected = False
        while not self._stop.wait(heartbeat_interval()):
            try:
                connected = self.tick(connected)
            except Exception:
                logger.exception("Heartbeat failed")
                connections.close_all()
                connected = False

    def holding(self, step_id: int, worker: str) -> _Holding:
        """Context manager: keep the step's lease alive while the block runs."""
        return _Holding(self, step_id, worker)

    def holder(self, worker: str):
        """Return `hold(step_id)` for `runs.services.run_steps`."""
        return lambda step_id: self.holding(step_id, worker)


class _Holding:
    def __init__(self, heartbeat: Heartbeat, step_id: int, worker: str) -> None:
        self.heartbeat, self.step_id, self.worker = heartbeat, step_id, worker

    def __enter__(self) -> None:
        self.heartbeat.start()
        self.heartbeat.add(self.step_id, self.worker)

    def __exit__(self, *exc: object) -> None:
        self.heartbeat.remove(self.step_id)

"""Dispatchers: who executes steps. One engine, chosen by settings.

- embedded: a thread pool inside the web process (no services needed),
- celery: kicks to Celery workers on Redis,
- inline: everything in the calling thread (terminal runs and deterministic tests).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


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


class Heartbeat:
    """Extends the leases of the steps this process is executing."""

    def __init__(self) -> None:
        self.steps: dict[int, str] = {}
        self.lock = threading.Lock()

    def add(self, step_id: int, worker: str) -> None:
        with self.lock:
            self.steps[step_id] = worker

    def remove(self, step_id: int) -> None:
        with self.lock:
            self.steps.pop(step_id, None)

    def beat(self) -> None:
        from runs.models import Step, StepStatus

        with self.lock:
            owned = dict(self.steps)
        if not owned:
            return
        expires = timezone.now() + timedelta(seconds=settings.SWITCHBOARD_LEASE_SECONDS)
        for step_id, worker in owned.items():
            Step.objects.filter(pk=step_id, status=StepStatus.RUNNING, lease_owner=worker).update(
                lease_expires_at=expires
            )


class EmbeddedExecutor(Executor):
    """Steps on a thread pool in this process; a sweeper thread recovers and times out."""

    def __init__(self, threads: int):
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="switchboard-step")
        self.heartbeat = Heartbeat()
        self.owner = f"embedded:{socket.gethostname()}:{os.getpid()}"
        self._inflight = 0
        self._idle = threading.Condition()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    def _track(self, fn, *args) -> None:
        with self._idle:
            self._inflight += 1

        def job() -> None:
            try:
                fn(*args)
            except Exception:
                logger.exception("Executor job %s%r failed", getattr(fn, "__name__", fn), args)
            finally:
                connections.close_all()
                with self._idle:
                    self._inflight -= 1
                    self._idle.notify_all()

        self.pool.submit(job)

    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        self._track(self._advance, run_id, redispatch)

    def _advance(self, run_id: int, redispatch: bool = False) -> None:
        from runs.services import run_advance

        close_old_connections()
        for step_id in run_advance(run_id=run_id, redispatch=redispatch):
            self._track(self._execute, run_id, step_id)

    def _execute(self, run_id: int, step_id: int) -> None:
        from runs.services import step_execute

        close_old_connections()
        worker = f"{self.owner}:{threading.get_ident()}"
        self.heartbeat.add(step_id, worker)
        try:
            step_execute(step_id=step_id, worker=worker)
        finally:
            self.heartbeat.remove(step_id)
        self._advance(run_id)

    def wait_idle(self, timeout: float = 60) -> bool:
        """Block until no job is queued or running (for terminal runs and tests)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._inflight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def start_sweeper(self, interval: float = 2.0, *, recover_now: bool = True) -> None:
        """Start the background loop: heartbeats, lease recovery, approval timeouts."""
        if self._sweeper is not None:
            return
        if recover_now:
            self.sweep_once(startup=True)
        self._sweeper = threading.Thread(
            target=self._sweep_loop, args=(interval,), name="switchboard-sweeper", daemon=True
        )
        self._sweeper.start()

    def sweep_once(self, *, startup: bool = False) -> set[int]:
        from runs.services import sweep

        try:
            kick = sweep(owner_prefix=self.owner if startup else None, dead_owner=startup)
        finally:
            connections.close_all()
        for run_id in kick:
            self.advance(run_id, redispatch=True)
        return kick

    def _sweep_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.heartbeat.beat()
                self.sweep_once()
            except Exception:
                logger.exception("Sweeper pass failed")

    def stop(self) -> None:
        self._stop.set()


class CeleryExecutor(Executor):
    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        from runs.tasks import advance_run

        advance_run.delay(run_id, redispatch)


_executor: Executor | None = None
_lock = threading.Lock()


def executor() -> Executor:
    global _executor
    with _lock:
        if _executor is None:
            kind = settings.SWITCHBOARD_EXECUTOR
            if kind == "celery":
                _executor = CeleryExecutor()
            elif kind == "inline":
                _executor = InlineExecutor()
            else:
                _executor = EmbeddedExecutor(settings.SWITCHBOARD_EMBEDDED_THREADS)
        return _executor


def set_executor(value: Executor | None) -> None:
    """Swap the executor (tests, the terminal runner)."""
    global _executor
    with _lock:
        _executor = value

"""Dispatchers: who executes steps. One engine, chosen by settings.

- embedded: a thread pool inside the web process (no services needed),
- celery: kicks to Celery workers on Redis,
- inline: everything in the calling thread (terminal runs and deterministic tests).

Whatever the dispatcher, a step being executed holds a lease that a heartbeat extends; the
sweeper (a thread here in embedded mode, a beat task with Celery) recovers steps whose lease
expired, so a killed process costs at most the step in flight and a few seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

logger = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded"


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
        while not self._stop.wait(heartbeat_interval()):
            try:
                self.beat()
            except Exception:
                logger.exception("Heartbeat failed")
                connections.close_all()

    def holding(self, step_id: int, worker: str) -> _Holding:
        """Context manager: keep the step's lease alive while the block runs."""
        return _Holding(self, step_id, worker)


class _Holding:
    def __init__(self, heartbeat: Heartbeat, step_id: int, worker: str) -> None:
        self.heartbeat, self.step_id, self.worker = heartbeat, step_id, worker

    def __enter__(self) -> None:
        self.heartbeat.start()
        self.heartbeat.add(self.step_id, self.worker)

    def __exit__(self, *exc: object) -> None:
        self.heartbeat.remove(self.step_id)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        # At start-up this process owns nothing yet: a lease in its name is a previous life's.
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_local_owners(host: str | None = None) -> list[str]:
    """Lease-owner prefixes of embedded processes on this host that no longer exist."""
    from runs.models import Step, StepStatus

    host = host or socket.gethostname()
    prefix = f"{EMBEDDED_PREFIX}:{host}:"
    owners = (
        Step.objects.filter(status=StepStatus.RUNNING, lease_owner__startswith=prefix)
        .values_list("lease_owner", flat=True)
        .distinct()
    )
    dead: set[str] = set()
    for owner in owners:
        pid = owner[len(prefix) :].split(":", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            dead.add(f"{prefix}{pid}:")
    return sorted(dead)


class EmbeddedExecutor(Executor):
    """Steps on a thread pool in this process; a sweeper thread recovers and times out."""

    def __init__(self, threads: int):
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="switchboard-step")
        self.heartbeat = Heartbeat()
        self.owner = f"{EMBEDDED_PREFIX}:{socket.gethostname()}:{os.getpid()}"
        self._inflight = 0
        self._idle = threading.Condition()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    def _track(self, fn: Callable[..., Any], *args: Any) -> None:
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
        with self.heartbeat.holding(step_id, worker):
            step_execute(step_id=step_id, worker=worker)
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

    def start_sweeper(self, interval: float | None = None, *, recover_now: bool = True) -> None:
        """Start the background loop: lease recovery, lost kicks, approval timeouts.

        With `recover_now`, the first pass also takes back the runs a previous process on this
        machine left running (its leases name a process that no longer exists), at once rather
        than after their leases expire. It runs on the sweeper thread so start-up never blocks.
        """
        if self._sweeper is not None:
            return
        self._sweeper = threading.Thread(
            target=self._sweep_loop,
            args=(interval or sweep_interval(), recover_now),
            name="switchboard-sweeper",
            daemon=True,
        )
        self._sweeper.start()

    def sweep_once(self, *, startup: bool = False) -> set[int]:
        from runs.services import sweep

        lost = dead_local_owners() if startup else []
        kick = sweep(lost_owner_prefixes=lost, startup=startup)
        if startup and kick:
            logger.info("Recovering %d run(s) left by a previous process", len(kick))
        for run_id in kick:
            self.advance(run_id, redispatch=True)
        return kick

    def _sweep_loop(self, interval: float, recover_now: bool) -> None:
        self.heartbeat.start()
        if recover_now:
            try:
                self.sweep_once(startup=True)
            except Exception:
                logger.exception("Start-up recovery failed; the sweeper will retry")
            finally:
                connections.close_all()
        while not self._stop.wait(interval):
            try:
                self.sweep_once()
            except Exception:
                logger.exception("Sweeper pass failed")
            finally:
                connections.close_all()

    def stop(self) -> None:
        self._stop.set()
        self.heartbeat.stop()


class CeleryExecutor(Executor):
    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        from runs.tasks import kick_advance

        try:
            kick_advance(run_id, redispatch=redispatch)
        except Exception:
            # The state change is committed; a lost kick is re-sent by the sweeper, so a broker
            # hiccup must not turn a started run (or a decision) into an error for the caller.
            logger.exception(
                "Could not send the kick for run %s; the sweeper will resend it", run_id
            )


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

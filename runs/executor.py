"""Executors: who executes steps. One engine, chosen by settings.

- embedded: a thread pool inside the web process (no services needed),
- celery: kicks to Celery workers on Redis,
- inline: everything in the calling thread (terminal runs and deterministic tests).

Whatever the executor, a step being executed holds a lease that a heartbeat extends; the
sweeper (a thread here in embedded mode, a thread of the beat process with Celery) recovers
steps whose lease expired, so a killed process costs at most the step in flight and a few
seconds. A job runs a step and the chain after it (`runs.services.run_steps`); fan-out
branches come back as kicks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections

from runs.leases import Heartbeat, sweep_interval, worker_name
from runs.services import Advance, run_advance, run_steps, step_claim, sweep
from runs.tasks import kick_advance

logger = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded"
JOB_ATTEMPTS = 5
JOB_BACKOFF = 0.25


class Executor:
    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        raise NotImplementedError

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a background job that is not a run step (e.g. ingesting a document): here, now."""
        fn(*args)


# One heartbeat thread for every inline run in this process (terminal runs, tests).
_inline_heartbeat = Heartbeat()


class InlineExecutor(Executor):
    """Run every step in the calling thread until the run finishes or waits."""

    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        worker = worker_name()
        pending: list[int] = []
        hold = _inline_heartbeat.holder(worker)
        runs: list[int] = []
        run_steps(
            run_advance(run_id=run_id, redispatch=redispatch, worker=worker),
            worker=worker,
            hold=hold,
            kick=pending.extend,
            kick_runs=runs.extend,
        )
        while pending or runs:
            if runs:
                # A sub-flow's child (or the parent it resumed) runs to its end or wait, too;
                # redispatched: a step resumed by a flow tool's child is queued already.
                self.advance(runs.pop(0), redispatch=True)
                continue
            claimed = step_claim(run_id=run_id, step_id=pending.pop(0), worker=worker)
            if claimed is not None:
                run_steps(
                    Advance(claimed=claimed),
                    worker=worker,
                    hold=hold,
                    kick=pending.extend,
                    kick_runs=runs.extend,
                )


def release_connections(failed: bool = False) -> None:
    """End a job: SQLite connections stay open for the thread's next job; pooled or failed ones
    go back (returning a connection to the pool is cheap, reconnecting SQLite is not)."""
    for conn in connections.all(initialized_only=True):
        if (
            failed
            or conn.vendor != "sqlite"
            or (conn.connection is not None and not conn.is_usable())
        ):
            conn.close()


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
        self.pool.submit(self._job, fn, args, 0)

    def _job(self, fn: Callable[..., Any], args: tuple[Any, ...], attempt: int) -> None:
        """Run one job; it stays in flight (for `wait_idle`) until done or given up."""
        failed = False
        retrying = False
        try:
            fn(*args)
        except (OperationalError, InterfaceError):
            # The database was busy or the connection dropped: the job's transaction rolled
            # back whole, so the job is sent again shortly instead of waiting for a sweep.
            failed = True
            retrying = attempt + 1 < JOB_ATTEMPTS
            if retrying:
                logger.warning("Executor job %r hit a database error; retrying", args)
                timer = threading.Timer(
                    JOB_BACKOFF * 2**attempt,
                    lambda: self.pool.submit(self._job, fn, args, attempt + 1),
                )
                timer.daemon = True
                timer.start()
            else:
                logger.exception("Executor job %r failed on the database; the sweeper "
                                 "will take it up", args)  # fmt: skip
        except Exception:
            failed = True
            logger.exception("Executor job %s%r failed", getattr(fn, "__name__", fn), args)
        finally:
            release_connections(failed)
            if not retrying:
                with self._idle:
                    self._inflight -= 1
                    self._idle.notify_all()

    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        self._track(self._advance, run_id, redispatch)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a background job on the pool, with the same database-error retries as steps."""
        self._track(fn, *args)

    def _worker(self) -> str:
        return f"{self.owner}:{threading.get_ident()}"

    def _kicker(self, run_id: int) -> Callable[[list[int]], None]:
        return lambda step_ids: [self._track(self._execute, run_id, s) for s in step_ids]

    def _advance(self, run_id: int, redispatch: bool = False) -> None:
        worker = self._worker()
        self._run(run_id, worker, run_advance(run_id=run_id, redispatch=redispatch, worker=worker))

    def _execute(self, run_id: int, step_id: int) -> None:
        worker = self._worker()
        claimed = step_claim(run_id=run_id, step_id=step_id, worker=worker)
        if claimed is not None:
            self._run(run_id, worker, Advance(claimed=claimed))

    def _advance_all(self, run_ids: list[int]) -> None:
        for run_id in run_ids:
            # Redispatched: a step a flow tool's child resumed is queued already.
            self.advance(run_id, redispatch=True)

    def _run(self, run_id: int, worker: str, advance: Advance) -> None:
        run_steps(
            advance,
            worker=worker,
            hold=self.heartbeat.holder(worker),
            kick=self._kicker(run_id),
            kick_runs=self._advance_all,
        )

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
                release_connections()
        while not self._stop.wait(interval):
            try:
                self.sweep_once()
            except Exception:
                logger.exception("Sweeper pass failed")
            finally:
                release_connections()

    def stop(self) -> None:
        self._stop.set()
        self.heartbeat.stop()


class CeleryExecutor(Executor):
    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        raise NotImplementedError("With Celery, background jobs are sent as tasks of their own.")

    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
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

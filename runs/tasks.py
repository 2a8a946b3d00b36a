"""Celery tasks and the Celery sweeper. Tasks take ids, never model instances; the database
decides what is done.

A task is a kick: "advance run R" or "execute step S". Kicks are sent once the transaction that
made them necessary has committed, and running one twice is harmless (claims are atomic), so
acks_late redeliveries and sweeper re-kicks never execute a completed step again. A task runs
its step and the chain after it; branches it does not run go out as kicks of their own.

A database error in a task (a dropped connection, "too many clients", an exhausted pool) is the
database's failure, not the worker's: the task hands back the steps it holds and is retried with
backoff; no crash is counted toward dead-lettering.

The sweeper is not a task: it runs on a thread of the beat process (`Sweeper`, started by
config/celery.py), so it never waits in line behind run work and never expires unprocessed.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone

from runs.leases import Heartbeat, worker_name
from runs.services import Advance, run_advance, run_steps, step_claim
from runs.services import sweep as sweep_once
from runs.services.recovery import steps_release

logger = logging.getLogger(__name__)

# Extends the leases of the steps this worker process is executing, from its own thread.
heartbeat = Heartbeat()

DATABASE_ERRORS = (OperationalError, InterfaceError)
# Retries of a task that met a database error: 1, 2, 4 … 32 s apart (with jitter), ~1 min in
# all. After that the sweeper, which re-kicks unclaimed steps, takes over.
DATABASE_RETRIES = 6
# The header a kick carries with the time it was sent (see `delivered_before`).
KICKED_AT = "switchboard_kicked_at"


def task_queue() -> str:
    """The queue kicks go to (settings may override the worker's default, e.g. in tests)."""
    from config.celery import app

    return getattr(settings, "SWITCHBOARD_CELERY_QUEUE", "") or app.conf.task_default_queue


def _send(task: Any, args: tuple, **options: Any) -> None:
    task.apply_async(args, queue=task_queue(), headers={KICKED_AT: time.time()}, **options)


def kick_advance(run_id: int, *, redispatch: bool = False) -> None:
    _send(advance_run, (run_id, redispatch))


def kick_execute(run_id: int, step_id: int) -> None:
    _send(execute_step, (run_id, step_id))


def _run(run_id: int, worker: str, advance: Advance) -> None:
    def kick(step_ids: list[int]) -> None:
        for step_id in step_ids:
            kick_execute(run_id, step_id)

    def kick_runs(run_ids: list[int]) -> None:
        for other in run_ids:
            # Redispatched: a step a flow tool's child resumed is queued already.
            kick_advance(other, redispatch=True)

    run_steps(advance, worker=worker, hold=heartbeat.holder(worker), kick=kick, kick_runs=kick_runs)


def retry_countdown(retries: int) -> float:
    """Seconds before retry number `retries + 1`: doubling from 1 s, with jitter so the tasks a
    database outage failed together do not all come back at once."""
    return (2**retries) * random.uniform(0.5, 1.0)


@contextmanager
def _database_errors_retried(task: Any, run_id: int, worker: str) -> Iterator[None]:
    """Turn a database error in the block into a retry of `task` with backoff.

    The steps this job holds are handed back first (left leased, they would wait for their
    lease to lapse and count as a crash) and the retry resumes them. A task still failing after
    DATABASE_RETRIES leaves them to their leases: a fault that outlasts a minute of retries
    counts as a crash, so it ends in a dead letter instead of retrying for ever.
    """
    try:
        yield
    except DATABASE_ERRORS as exc:
        connections.close_all()  # this thread's: a broken connection must not be reused
        retries = task.request.retries
        if retries >= DATABASE_RETRIES:
            logger.error("Run %s: giving up after %d database errors: %s", run_id, retries, exc)
            raise
        countdown = retry_countdown(retries)
        try:
            kick_at = timezone.now() + timedelta(seconds=countdown)
            released = steps_release(run_id=run_id, worker=worker, kick_at=kick_at)
        except DATABASE_ERRORS:
            connections.close_all()
            released = []
            logger.warning("Run %s: could not hand back its steps; their leases will lapse", run_id)
        logger.warning(
            "Run %s: database error (%s); handed back steps %s, retrying in %.1fs",
            run_id,
            exc,
            released,
            countdown,
        )
        kwargs = {**(task.request.kwargs or {}), "resume": released}
        raise task.retry(exc=exc, countdown=countdown, kwargs=kwargs) from exc


def _resume(run_id: int, step_ids: list[int], worker: str) -> Advance:
    """Take back the steps a failed try handed back: claim the first still queued, kick the
    rest (more than one only when the failed commit had in fact gone through)."""
    for index, step_id in enumerate(step_ids):
        claimed = step_claim(run_id=run_id, step_id=step_id, worker=worker)
        if claimed is not None:
            return Advance(claimed=claimed, queued=list(step_ids[index + 1 :]))
    return Advance()


_KICK = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "max_retries": DATABASE_RETRIES,
}


@shared_task(**_KICK)
def advance_run(
    self: Any, run_id: int, redispatch: bool = False, resume: Sequence[int] = ()
) -> None:
    worker = worker_name()
    with _database_errors_retried(self, run_id, worker):
        if resume:
            advance = _resume(run_id, list(resume), worker)
        else:
            advance = run_advance(run_id=run_id, redispatch=redispatch, worker=worker)
        _run(run_id, worker, advance)


@shared_task(**_KICK)
def execute_step(self: Any, run_id: int, step_id: int, resume: Sequence[int] = ()) -> None:
    worker = worker_name()
    with _database_errors_retried(self, run_id, worker):
        if resume:
            advance = _resume(run_id, list(resume), worker)
        else:
            claimed = step_claim(run_id=run_id, step_id=step_id, worker=worker)
            if claimed is None:
                return
            advance = Advance(claimed=claimed)
        _run(run_id, worker, advance)


# ---- the sweeper -------------------------------------------------------------------------------

_broker_client: Any = None


def _broker() -> Any:
    """A Redis client on the broker, or None when the broker is not Redis."""
    global _broker_client
    if _broker_client is None:
        from config.celery import app

        url = app.conf.broker_url or ""
        if not url.startswith(("redis://", "rediss://")):
            return None
        import redis

        _broker_client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return _broker_client


def delivered_before() -> datetime | None:
    """A time before which every kick sent has left the broker's queue; None if unknown.

    Kombu's Redis transport pushes messages on the left of a list and workers pop them from the
    right, so kicks leave oldest first: with the queue empty every kick sent so far has been
    delivered; otherwise every kick sent before the oldest one still waiting has. A step still
    queued well after its kick was delivered lost that kick with the worker that took it.
    """
    client = _broker()
    if client is None:
        return None
    now = timezone.now()
    try:
        oldest = client.lindex(task_queue(), -1)
    except Exception:
        logger.warning("Sweeper: could not read the broker's queue", exc_info=True)
        return None
    if oldest is None:
        return now
    try:
        sent = float(json.loads(oldest)["headers"][KICKED_AT])
    except (ValueError, KeyError, TypeError):
        return None  # a message without the header (sent by an older version): no word
    return min(now, datetime.fromtimestamp(sent, tz=UTC))


def sweep_and_kick() -> set[int]:
    """One pass: recover expired leases, re-kick lost kicks, time out approvals."""
    # Read the queue before the database: a row queued after this read is never taken for lost.
    horizon = delivered_before()
    kick = sweep_once(delivered_before=horizon)
    if kick:
        logger.info("Sweeper re-kicking %d run(s): %s", len(kick), sorted(kick))
    for run_id in sorted(kick):
        kick_advance(run_id, redispatch=True)
    return kick


class Sweeper:
    """Sweep every `interval` seconds on a daemon thread, with its own database connection.

    It runs in the beat process (one per deployment). Sweeping needs the database and the
    broker, not a worker: as a task it waited behind run work, and under load most sweeps
    expired in the queue unprocessed. Two sweepers at once would be harmless (each recovery
    locks the run and re-checks), only wasteful.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, interval: float) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="switchboard-sweeper", daemon=True
        )
        self._thread.start()
        logger.info("Sweeper started: every %.1fs, queue %s", interval, task_queue())

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                sweep_and_kick()
            except Exception:
                logger.exception("Sweeper pass failed; the next one retries")
            finally:
                connections.close_all()


sweeper = Sweeper()

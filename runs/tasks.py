"""Celery tasks. They take ids, never model instances; the database decides what is done.

A task is a kick: "advance run R" or "execute step S". Kicks are sent once the transaction that
made them necessary has committed, and running one twice is harmless (claims are atomic), so
acks_late redeliveries and sweeper re-kicks never execute a completed step again. A task runs
its step and the chain after it; branches it does not run go out as kicks of their own.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from runs.leases import Heartbeat, worker_name
from runs.services import Advance, run_advance, run_steps, step_claim
from runs.services import sweep as sweep_once

logger = logging.getLogger(__name__)

# Extends the leases of the steps this worker process is executing, from its own thread.
heartbeat = Heartbeat()


def task_queue() -> str:
    """The queue kicks go to (settings may override the worker's default, e.g. in tests)."""
    from config.celery import app

    return getattr(settings, "SWITCHBOARD_CELERY_QUEUE", "") or app.conf.task_default_queue


def kick_advance(run_id: int, *, redispatch: bool = False) -> None:
    advance_run.apply_async((run_id, redispatch), queue=task_queue())


def kick_execute(run_id: int, step_id: int) -> None:
    execute_step.apply_async((run_id, step_id), queue=task_queue())


def _run(run_id: int, worker: str, advance: Advance) -> None:
    run_steps(
        advance,
        worker=worker,
        hold=heartbeat.holder(worker),
        kick=lambda step_ids: [kick_execute(run_id, s) for s in step_ids],
    )


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance_run(run_id: int, redispatch: bool = False) -> None:
    worker = worker_name()
    _run(run_id, worker, run_advance(run_id=run_id, redispatch=redispatch, worker=worker))


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_step(run_id: int, step_id: int) -> None:
    worker = worker_name()
    claimed = step_claim(run_id=run_id, step_id=step_id, worker=worker)
    if claimed is not None:
        _run(run_id, worker, Advance(claimed=claimed))


@shared_task(ignore_result=True)
def sweep() -> None:
    """Recover expired leases, re-kick lost kicks, time out approvals (scheduled by beat)."""
    kick = sweep_once()
    if kick:
        logger.info("Sweeper re-kicking runs %s", sorted(kick))
    for run_id in kick:
        kick_advance(run_id, redispatch=True)

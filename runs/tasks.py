"""Celery tasks. They take ids, never model instances; the database decides what is done.

A task is a kick: "advance run R" or "execute step S". Kicks are sent once the transaction that
made them necessary has committed, and running one twice is harmless (claims are atomic), so
acks_late redeliveries and sweeper re-kicks never execute a completed step again.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

from .executor import Heartbeat, worker_name

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


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance_run(run_id: int, redispatch: bool = False) -> None:
    from runs.services import run_advance

    for step_id in run_advance(run_id=run_id, redispatch=redispatch):
        transaction.on_commit(lambda s=step_id: kick_execute(run_id, s))


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_step(run_id: int, step_id: int) -> None:
    from runs.services import step_execute

    worker = worker_name()
    with heartbeat.holding(step_id, worker):
        step_execute(step_id=step_id, worker=worker)
    advance_run(run_id)


@shared_task(ignore_result=True)
def sweep() -> None:
    """Recover expired leases, re-kick lost kicks, time out approvals (scheduled by beat)."""
    from runs.services import sweep as sweep_once

    kick = sweep_once()
    if kick:
        logger.info("Sweeper re-kicking runs %s", sorted(kick))
    for run_id in kick:
        kick_advance(run_id, redispatch=True)

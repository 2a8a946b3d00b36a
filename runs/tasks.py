"""Celery tasks. They take ids, never model instances; the database decides what is done."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from .executor import worker_name


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance_run(run_id: int, redispatch: bool = False) -> None:
    from runs.services import run_advance

    step_ids = run_advance(run_id=run_id, redispatch=redispatch)
    for step_id in step_ids:
        transaction.on_commit(lambda s=step_id: execute_step.delay(run_id, s))


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_step(run_id: int, step_id: int) -> None:
    from runs.services import step_execute

    step_execute(step_id=step_id, worker=worker_name())
    advance_run(run_id)


@shared_task(ignore_result=True)
def sweep() -> None:
    from runs.services import sweep as sweep_once

    for run_id in sweep_once():
        advance_run.delay(run_id, True)

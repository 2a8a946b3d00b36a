"""Celery task: ingest one document. Takes an id; the claim in the database makes a redelivered
or duplicated kick harmless."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from runs.leases import worker_name
from runs.tasks import KICKED_AT, task_queue


def send(task: Any, document_id: int) -> None:
    task.apply_async((document_id,), queue=task_queue(), headers={KICKED_AT: time.time()})


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def ingest_document(document_id: int) -> None:
    from .ingestion import document_ingest

    document_ingest(document_id=document_id, worker=worker_name())

"""Kicks for ingestion: documents to ingest go to the executor runs use, once the current
transaction commits. A kick is only a hint; the claim in the database decides who ingests."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from runs.executor import CeleryExecutor, executor
from runs.leases import worker_name

logger = logging.getLogger(__name__)


def ingest_job(document_id: int) -> None:
    from .ingestion import document_ingest

    document_ingest(document_id=document_id, worker=worker_name())


def _send(document_ids: list[int]) -> None:
    current = executor()
    for document_id in document_ids:
        if isinstance(current, CeleryExecutor):
            from .tasks import ingest_document, send

            try:
                send(ingest_document, document_id)
            except Exception:
                logger.exception("Could not send the ingestion kick for document %s; the "
                                 "sweeper will resend it", document_id)  # fmt: skip
        else:
            current.submit(ingest_job, document_id)


def kick_ingest(document_ids: Iterable[int]) -> None:
    """Ingest these documents once the current transaction commits (now, outside one)."""
    ids = list(document_ids)
    if ids:
        transaction.on_commit(lambda: _send(ids))

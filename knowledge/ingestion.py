"""Ingest one document: read it, chunk it, embed the chunks in batches, mark it ready.

This module owns a document's status changes. A worker claims a document (queued, or processing
under a lease that ran out) and renews the lease after every batch; progress is committed batch
by batch, so a worker that dies loses at most the batch in flight: the next one keeps the chunks
already stored and embeds only the rest (the embedding cache answers for any text it had sent).
A knowledge base whose settings change requeues its documents; the worker still holding one
loses its lease at the next batch and stops.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from runs.llm.response import LlmError

from .chunking import ChunkDraft, chunk_blocks
from .embeddings import embed_cached, text_hash, to_bytes
from .models import Chunk, Document, DocumentStatus
from .parsing import Unreadable, read_blocks

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class LeaseLost(Exception):
    """Another worker (or a re-index) took the document over."""


def lease_seconds() -> float:
    return float(settings.KNOWLEDGE_LEASE_SECONDS)


def _lease_until():
    return timezone.now() + timedelta(seconds=lease_seconds())


def document_claim(*, document_id: int, worker: str) -> Document | None:
    """Take the document for ingestion, or None if it is not waiting (or someone holds it)."""
    now = timezone.now()
    claimable = Q(status=DocumentStatus.QUEUED) | Q(
        status=DocumentStatus.PROCESSING, lease_expires_at__lt=now
    )
    with transaction.atomic():
        claimed = Document.objects.filter(claimable, pk=document_id).update(
            status=DocumentStatus.PROCESSING,
            lease_owner=worker,
            lease_expires_at=_lease_until(),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    if not claimed:
        return None
    document = Document.objects.select_related("knowledge_base").get(pk=document_id)
    if document.attempts > MAX_ATTEMPTS:
        _finish(
            document,
            worker,
            status=DocumentStatus.FAILED,
            error_code="crashed",
            error_message=f"Ingestion stopped unexpectedly {MAX_ATTEMPTS} times; try again or "
            "split the document.",
        )
        return None
    return document


def _renew(document: Document, worker: str, **changes) -> None:
    renewed = Document.objects.filter(
        pk=document.pk, status=DocumentStatus.PROCESSING, lease_owner=worker
    ).update(lease_expires_at=_lease_until(), updated_at=timezone.now(), **changes)
    if not renewed:
        raise LeaseLost(document.pk)


def _finish(document: Document, worker: str, *, status: str, **changes) -> bool:
    return bool(
        Document.objects.filter(pk=document.pk, lease_owner=worker).update(
            status=status,
            lease_owner="",
            lease_expires_at=None,
            updated_at=timezone.now(),
            **changes,
        )
    )


def document_ingest(*, document_id: int, worker: str) -> str | None:
    """Ingest the document if it is waiting; return its status after, or None if not claimed."""
    document = document_claim(document_id=document_id, worker=worker)
    if document is None:
        return None
    try:
        _ingest(document, worker)
    except LeaseLost:
        logger.info("Document %s was taken over; this worker stops", document_id)
        return None
    except Unreadable as exc:
        _finish(document, worker, status=DocumentStatus.FAILED, error_code="unreadable",
                error_message=str(exc))  # fmt: skip
        return DocumentStatus.FAILED
    except LlmError as exc:
        _finish(document, worker, status=DocumentStatus.FAILED,
                error_code=f"embedding_{exc.code}", error_message=exc.message)  # fmt: skip
        return DocumentStatus.FAILED
    except Exception:
        logger.exception("Ingesting document %s failed", document_id)
        _finish(document, worker, status=DocumentStatus.FAILED, error_code="internal_error",
                error_message="Something went wrong on our side; it has been logged.")  # fmt: skip
        return DocumentStatus.FAILED
    return DocumentStatus.READY


def _drafts(document: Document) -> list[ChunkDraft]:
    kb = document.knowledge_base
    blocks = read_blocks(bytes(document.content), document.file_format)
    drafts = chunk_blocks(blocks, size=kb.chunk_size, overlap=kb.chunk_overlap)
    if not drafts:
        hint = " (a scanned PDF has no text to read)" if document.file_format == "pdf" else ""
        raise Unreadable(f"No text was found in the document{hint}.")
    limit = settings.KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT
    if len(drafts) > limit:
        raise Unreadable(
            f"The document makes {len(drafts):,} chunks; the limit is {limit:,}. Split it, or "
            "raise the chunk size."
        )
    return drafts


def _store_chunks(document: Document, drafts: list[ChunkDraft], worker: str) -> None:
    """Keep the chunks a previous attempt stored if they are these; else replace them."""
    revision = document.knowledge_base.revision
    wanted = [(d.position, text_hash(d.text)) for d in drafts]
    stored = list(
        document.chunks.filter(revision=revision)
        .order_by("position")
        .values_list("position", "text_hash")
    )
    if stored == wanted and document.chunks.count() == len(wanted):
        return
    with transaction.atomic():
        _renew(document, worker, chunks_total=len(drafts), chunks_done=0)
        document.chunks.all().delete()
        Chunk.objects.bulk_create(
            [
                Chunk(
                    knowledge_base_id=document.knowledge_base_id,
                    document=document,
                    position=d.position,
                    text=d.text,
                    heading=d.heading[:1000],
                    location=d.location[:100],
                    text_hash=digest,
                    revision=revision,
                )
                for d, (_, digest) in zip(drafts, wanted, strict=True)
            ],
            batch_size=500,
        )
        document.knowledge_base.chunks_changed(document_id=document.pk)


def _ingest(document: Document, worker: str) -> None:
    kb = document.knowledge_base
    drafts = _drafts(document)
    _store_chunks(document, drafts, worker)
    batch = settings.KNOWLEDGE_EMBED_BATCH
    done = document.chunks.filter(embedding__isnull=False).count()
    _renew(document, worker, chunks_total=len(drafts), chunks_done=done)
    while True:
        pending = list(document.chunks.filter(embedding__isnull=True).order_by("position")[:batch])
        if not pending:
            break
        embedded = embed_cached([c.text for c in pending], model=kb.embedding_model)
        for chunk, vector in zip(pending, embedded.vectors, strict=True):
            chunk.embedding = to_bytes(vector)
            chunk.embedding_model = embedded.model
        done += len(pending)
        with transaction.atomic():
            _renew(document, worker, chunks_done=done)
            Chunk.objects.bulk_update(pending, ["embedding", "embedding_model"])
            kb.chunks_changed(document_id=document.pk, chunk_ids=[c.pk for c in pending])
    finished = _finish(
        document,
        worker,
        status=DocumentStatus.READY,
        indexed_revision=kb.revision,
        chunks_done=len(drafts),
        error_code="",
        error_message="",
    )
    if not finished:
        raise LeaseLost(document.pk)

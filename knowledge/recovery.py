"""Take back documents whose ingestion stopped: a worker that died (its lease ran out) or a kick
that was lost (queued for a while with nobody on it). Called by every executor's sweeper."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import Document, DocumentStatus


def documents_to_recover() -> list[int]:
    """Documents to kick again; each is re-kicked at most once per KNOWLEDGE_REKICK_SECONDS."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.KNOWLEDGE_REKICK_SECONDS)
    stuck = Q(status=DocumentStatus.PROCESSING, lease_expires_at__lt=now) | Q(
        status=DocumentStatus.QUEUED, updated_at__lt=stale
    )
    ids = list(Document.objects.filter(stuck).values_list("id", flat=True)[:500])
    if ids:
        # Queued ones count as kicked now, so the next sweep leaves them to the kick.
        Document.objects.filter(pk__in=ids, status=DocumentStatus.QUEUED).update(updated_at=now)
    return ids


def documents_sweep_and_kick() -> list[int]:
    from .dispatch import kick_ingest

    ids = documents_to_recover()
    kick_ingest(ids)
    return ids

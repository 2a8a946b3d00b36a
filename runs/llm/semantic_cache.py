"""The semantic cache, stored in `runs.models.SemanticCacheEntry`, beside the exact cache.

A prompt node with `semantic_cache` on asks it before calling a model: the stored answers of its
scope with an identical configuration fingerprint, stored within its time to live, are scanned
exactly (numpy, the knowledge search's `nearest`) for the request most similar to this one. The
request is embedded through the knowledge app's cached embeddings (by model + content hash), so
asking again, and storing after a miss, embed nothing twice.

Django is imported inside the functions so `runs.llm` loads without it for pure tests.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

logger = logging.getLogger(__name__)

#: The most recent entries of one scope and fingerprint that a lookup scans.
MAX_CANDIDATES = 5_000
#: float32 dot products of unit vectors can miss 1.0 by a few ulps.
SIMILARITY_SLACK = 1e-6
#: With `same_figures`, how many of the closest requests are read for one with the same figures.
FIGURE_CANDIDATES = 20
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")


def figures(text: str) -> list[str]:
    """The numbers in a request (order numbers, amounts, counts), sorted: "1,200" is "1200".

    Two requests that embed alike but differ in a figure ask different things ("a refund of 12
    units" vs "of 10"); an embedding barely tells them apart, the longer the text the less.
    """
    found = (m.group().replace(",", "") for m in _FIGURE.finditer(text))
    return sorted(f.rstrip("0").rstrip(".") if "." in f else f for f in found)


class SemanticCacheUnavailable(Exception):
    """The cache could not answer (its database, or the request's embedding, failed)."""

    code = "semantic_cache_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _embedding(text: str, model: str) -> tuple[Any, dict[str, Any]]:
    from knowledge.embeddings import embed_cached
    from runs.llm.response import LlmError

    try:
        embedded = embed_cached([text], model=model)
    except LlmError as exc:
        raise SemanticCacheUnavailable(
            f"The request could not be embedded ({exc.code}); the model was asked instead."
        ) from exc
    usage = {"model": model, "tokens": embedded.tokens, "cost": embedded.cost}
    return embedded.vectors[0], usage


def _scoped(*, workspace_id: int, flow_id: int, scope: str):
    from runs.models import SemanticCacheEntry, SemanticCacheScope

    entries = SemanticCacheEntry.objects.filter(workspace_id=workspace_id)
    if scope == SemanticCacheScope.WORKSPACE:
        return entries.filter(scope=SemanticCacheScope.WORKSPACE)
    return entries.filter(flow_id=flow_id)


def semantic_lookup(
    *,
    workspace_id: int,
    flow_id: int,
    text: str,
    fingerprint: str,
    similarity: float,
    ttl_seconds: int,
    scope: str,
    embedding_model: str,
    same_figures: bool = False,
) -> dict[str, Any]:
    """Return {"hit": the closest fresh answer at `similarity` or more, or None, "usage"}.

    With `same_figures`, only a stored request with the same numbers as `text` answers; the
    closest one passed over for its figures is returned as "other_figures" (matched text and
    similarity) so the step can say why it missed.
    """
    import numpy as np
    from django.db import DatabaseError
    from django.db.models import F
    from django.utils import timezone

    from knowledge.embeddings import from_bytes
    from knowledge.search import nearest
    from runs.models import SemanticCacheEntry

    vector, usage = _embedding(text, embedding_model)
    fresh_since = timezone.now() - timedelta(seconds=ttl_seconds)
    try:
        rows = list(
            _scoped(workspace_id=workspace_id, flow_id=flow_id, scope=scope)
            .filter(
                fingerprint=fingerprint,
                embedding_model=embedding_model,
                created_at__gte=fresh_since,
            )
            .order_by("-created_at", "-id")
            .values_list("id", "vector")[:MAX_CANDIDATES]
        )
        if not rows:
            return {"hit": None, "usage": usage}
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.vstack([from_bytes(r[1]) for r in rows])
        limit = FIGURE_CANDIDATES if same_figures else 1
        found = nearest(
            ids, vectors, vector, limit=limit, min_similarity=similarity - SIMILARITY_SLACK
        )
        entries = SemanticCacheEntry.objects.in_bulk([pk for pk, _score in found])
        found = [(pk, score) for pk, score in found if pk in entries]  # not evicted meanwhile
        passed_over = None
        if same_figures and found:
            wanted = figures(text)
            alike = [(pk, s) for pk, s in found if figures(entries[pk].text) == wanted]
            if not alike or alike[0][0] != found[0][0]:
                closest, score = found[0]
                passed_over = {
                    "matched": entries[closest].text,
                    "similarity": round(min(1.0, score), 4),
                }
            found = alike
        if not found:
            return {"hit": None, "usage": usage, "other_figures": passed_over}
        entry_id, score = found[0]
        entry = entries[entry_id]
        SemanticCacheEntry.objects.filter(pk=entry_id).update(hits=F("hits") + 1)
    except DatabaseError as exc:
        logger.warning("Semantic cache lookup failed, calling the model: %s", type(exc).__name__)
        raise SemanticCacheUnavailable("The semantic cache could not be read.") from exc
    hit = {
        "entry": entry.pk,
        "output": entry.output,
        "similarity": min(1.0, score),
        "matched": entry.text,
        "model": entry.model,
        "saved_cost": float(entry.cost),
        "created_at": entry.created_at.isoformat(),
    }
    return {"hit": hit, "usage": usage, "other_figures": passed_over}


def semantic_store(
    *,
    workspace_id: int,
    flow_id: int,
    run_id: int | None,
    node_id: str,
    text: str,
    fingerprint: str,
    scope: str,
    embedding_model: str,
    output: Any,
    model: str,
    cost: float,
) -> int:
    """Remember `output` as the answer to `text`; the newest answer to a request wins."""
    from django.db import DatabaseError, IntegrityError, transaction
    from django.utils import timezone

    from knowledge.embeddings import text_hash, to_bytes
    from runs.models import SemanticCacheEntry

    vector, _usage = _embedding(text, embedding_model)  # cached by the lookup: no second call
    try:
        with transaction.atomic():
            entry, _ = SemanticCacheEntry.objects.update_or_create(
                workspace_id=workspace_id,
                flow_id=flow_id,
                scope=scope,
                fingerprint=fingerprint,
                embedding_model=embedding_model,
                text_hash=text_hash(text),
                defaults={
                    "text": text,
                    "vector": to_bytes(vector),
                    "output": output,
                    "model": model,
                    "cost": Decimal(str(round(cost, 6))),
                    "source_run_id": run_id,
                    "source_node_id": node_id,
                    "hits": 0,
                    "created_at": timezone.now(),
                },
            )
    except (DatabaseError, IntegrityError) as exc:
        logger.warning("Semantic cache store failed: %s", type(exc).__name__)
        raise SemanticCacheUnavailable("The answer could not be stored in the cache.") from exc
    return entry.pk


def semantic_expire(*, older_than_seconds: int) -> int:
    """Delete entries stored longer ago than any node keeps them; return how many."""
    from django.utils import timezone

    from runs.models import SemanticCacheEntry

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    deleted, _ = SemanticCacheEntry.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def semantic_evict(entry_ids: list[int]) -> int:
    """Delete cached answers that turned out wrong; return how many were still there."""
    from runs.models import SemanticCacheEntry

    ids = [int(i) for i in entry_ids if isinstance(i, int) and not isinstance(i, bool)]
    if not ids:
        return 0
    deleted, _ = SemanticCacheEntry.objects.filter(pk__in=ids).delete()
    if deleted:
        logger.info("Semantic cache: evicted %d answer(s) judged wrong", deleted)
    return deleted


def entries_used(details: dict[str, Any] | None) -> list[int]:
    """The cache entries a step's answer came from or went into (from its details)."""
    used = (details or {}).get("semantic_cache") or {}
    if not isinstance(used, dict):
        return []
    found = [used.get("entry") if used.get("outcome") == "hit" else None, used.get("stored")]
    return [i for i in found if isinstance(i, int) and not isinstance(i, bool)]

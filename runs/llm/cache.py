"""The optional response cache, stored in `runs.models.LlmCacheEntry`.

Django is imported inside the functions so `runs.llm` loads without it for pure tests.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from .response import LlmResponse

logger = logging.getLogger(__name__)


def cache_key(
    *,
    provider: str,
    model: str,
    messages: list[dict[str, Any]],
    temperature: float,
    max_tokens: int,
    tools: list[dict[str, Any]] | None,
    tool_choice: str | dict[str, Any] | None,
    response_format: dict[str, Any] | None,
) -> str:
    """Return the sha256 hex digest identifying an identical request."""
    document = {
        "provider": provider,
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "tools": tools,
        "tool_choice": tool_choice,
        "response_format": response_format,
    }
    encoded = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(encoded.encode()).hexdigest()


def cache_lookup(key: str) -> LlmResponse | None:
    """Return the cached response for `key` (counting the hit), or None."""
    from django.db import DatabaseError
    from django.db.models import F

    from runs.models import LlmCacheEntry

    try:
        entry = LlmCacheEntry.objects.filter(key=key).first()
        if entry is None:
            return None
        LlmCacheEntry.objects.filter(pk=entry.pk).update(hits=F("hits") + 1)
        return LlmResponse.from_dict(entry.response)
    except (DatabaseError, TypeError, KeyError) as exc:
        # The cache saves money; it must never fail a call.
        logger.warning("LLM cache lookup failed, calling the model: %s", type(exc).__name__)
        return None


def cache_store(key: str, response: LlmResponse) -> None:
    """Remember `response` under `key` (first writer wins)."""
    from django.db import DatabaseError, IntegrityError, transaction

    from runs.models import LlmCacheEntry

    try:
        with transaction.atomic():
            LlmCacheEntry.objects.get_or_create(
                key=key, defaults={"model": response.model, "response": response.to_dict()}
            )
    except (DatabaseError, IntegrityError) as exc:
        logger.warning("LLM cache store failed: %s", type(exc).__name__)

"""Embeddings with a cache: a text already embedded by a model is read back, never sent again."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import IntegrityError, transaction

from runs.llm.embeddings import embed

from .models import Embedding


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<f4")


@dataclass
class Embedded:
    vectors: list[np.ndarray]
    model: str
    tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    cached: int = 0


def embed_cached(texts: Sequence[str], *, model: str, timeout: float = 60.0) -> Embedded:
    """Embed `texts`, reading the ones seen before from the cache and storing the new ones."""
    hashes = [text_hash(t) for t in texts]
    known = {
        row.text_hash: from_bytes(row.vector)
        for row in Embedding.objects.filter(model=model, text_hash__in=set(hashes))
    }
    missing: dict[str, str] = {}
    for digest, text in zip(hashes, texts, strict=True):
        if digest not in known:
            missing.setdefault(digest, text)
    result = Embedded(vectors=[], model=model, cached=len(texts) - len(missing))
    if missing:
        fresh = embed(list(missing.values()), model=model, timeout=timeout)
        result.tokens, result.cost, result.calls = fresh.tokens, fresh.cost, fresh.calls
        rows = []
        for digest, vector in zip(missing, fresh.vectors, strict=True):
            known[digest] = vector
            rows.append(Embedding(model=model, text_hash=digest, vector=to_bytes(vector)))
        try:
            with transaction.atomic():
                Embedding.objects.bulk_create(rows, ignore_conflicts=True)
        except IntegrityError:
            pass  # another worker stored the same texts first: theirs are as good
    result.vectors = [known[digest] for digest in hashes]
    return result

"""Embeddings with a cache: a text already embedded by a model is read back, never sent again."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
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
    return np.frombuffer(bytes(data), dtype="<f4")  # read-only: safe to share


@dataclass
class Embedded:
    vectors: list[np.ndarray]
    model: str
    tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    cached: int = 0


#: The vectors this process read or made last, by (model, text hash), at most this many: a text
#: embedded again (a question asked again, a request the semantic cache and the router both
#: embed) costs no round trip to the database. A model's vector of a text never changes, so
#: nothing kept here goes stale. 4,096 vectors of 384 dimensions take 6 MB.
RECENT_VECTORS = 4096
_recent: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_recent_lock = threading.Lock()


def forget_recent() -> None:
    """Empty the process's recent vectors (tests: each starts with the database's cache only)."""
    with _recent_lock:
        _recent.clear()


def _remember(model: str, vectors: dict[str, np.ndarray]) -> None:
    with _recent_lock:
        for digest, vector in vectors.items():
            if vector.flags.writeable:  # a fresh one: a copy nobody else can change
                vector = np.array(vector, dtype=np.float32)
                vector.flags.writeable = False
            _recent[model, digest] = vector
            _recent.move_to_end((model, digest))
        while len(_recent) > RECENT_VECTORS:
            _recent.popitem(last=False)


def embed_cached(texts: Sequence[str], *, model: str, timeout: float = 60.0) -> Embedded:
    """Embed `texts`, reading the ones seen before from the cache (this process's recent
    vectors, then the database's) and storing the new ones."""
    hashes = [text_hash(t) for t in texts]
    with _recent_lock:
        known = {d: _recent[model, d] for d in hashes if (model, d) in _recent}
    unknown = set(hashes).difference(known)
    if unknown:
        known.update(
            (row.text_hash, from_bytes(row.vector))
            for row in Embedding.objects.filter(model=model, text_hash__in=unknown)
        )
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
    _remember(model, known)
    return result

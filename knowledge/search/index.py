"""A knowledge base's search index held in memory: its vectors as one float32 matrix and its
lexical postings, each loaded on first use and reloaded when the base's chunks change.

Every change to a base's chunks (stored, embedded, deleted) bumps its chunks_version in the same
transaction, so one indexed read per query tells whether what is held is current. The base's
creation time tells a reused id (a restored database) apart.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import numpy as np
from django.db import connection

from ..models import KnowledgeBase
from .lexical import LexicalIndex


class Vectors:
    """The embedded chunks of a base: ids (ascending) and their unit vectors, one row each."""

    def __init__(self, ids: np.ndarray, matrix: np.ndarray):
        self.ids, self.matrix = ids, matrix


class BaseIndex:
    def __init__(self, kb_id: int, key: tuple[Any, ...]):
        self.kb_id, self.key = kb_id, key
        self._vectors: Vectors | None = None
        self._lexical: LexicalIndex | None = None
        self._lock = threading.Lock()

    def vectors(self) -> Vectors:
        with self._lock:
            if self._vectors is None:
                self._vectors = _load_vectors(self.kb_id)
            return self._vectors

    def lexical(self) -> LexicalIndex:
        with self._lock:
            if self._lexical is None:
                self._lexical = _load_lexical(self.kb_id)
            return self._lexical


_held: dict[int, BaseIndex] = {}
_held_lock = threading.Lock()


def base_indexes(kbs: list[KnowledgeBase]) -> list[BaseIndex]:
    """The current in-memory index of each base (a new, empty one where its chunks changed)."""
    versions = dict(
        KnowledgeBase.objects.filter(pk__in=[kb.pk for kb in kbs]).values_list(
            "pk", "chunks_version"
        )
    )
    indexes = []
    with _held_lock:
        for kb in kbs:
            key = (kb.created_at, kb.embedding_model, kb.revision, versions.get(kb.pk))
            held = _held.get(kb.pk)
            if held is None or held.key != key:
                held = _held[kb.pk] = BaseIndex(kb.pk, key)
            indexes.append(held)
    return indexes


def _load_vectors(kb_id: int) -> Vectors:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, embedding FROM knowledge_chunk WHERE knowledge_base_id = %s "
            "AND embedding IS NOT NULL ORDER BY id",
            [kb_id],
        )
        rows = cursor.fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    if not rows:
        return Vectors(ids, np.zeros((0, 0), np.float32))
    # Vectors of another length (a model changed mid-way) cannot be stacked; the base is being
    # re-indexed then, and only the vectors of its current length are searched.
    width = Counter(len(r[1]) for r in rows).most_common(1)[0][0]
    keep = [i for i, r in enumerate(rows) if len(r[1]) == width]
    flat = b"".join(bytes(rows[i][1]) for i in keep)
    matrix = np.frombuffer(flat, dtype="<f4").reshape(len(keep), width // 4)
    return Vectors(ids[keep] if len(keep) != len(rows) else ids, matrix)


def _load_lexical(kb_id: int) -> LexicalIndex:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, heading, text FROM knowledge_chunk WHERE knowledge_base_id = %s "
            "ORDER BY id",
            [kb_id],
        )
        rows = cursor.fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return LexicalIndex(ids, (f"{heading}\n{text}" for _, heading, text in rows))

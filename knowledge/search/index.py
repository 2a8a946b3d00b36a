"""A knowledge base's search index held in memory: its vectors (knowledge.search.vectors) and
its lexical postings (knowledge.search.lexical), each built on first use and then kept current
by the delta.

Every change to a base's chunks (stored, embedded, deleted) bumps its chunks_version and writes
a ChunkChange naming the document (and, for an embedding batch, the chunks) in the same
transaction; the bump's row lock makes the versions commit in order. Each query reads the
versions of the bases it searches (one indexed read). An index held at an older version reads
the changes since, reloads the rows of the chunks they name (the current rows: applying a
change twice is harmless) and replaces those chunks in memory. If the changes since are not all
kept (KNOWLEDGE_CHUNK_CHANGES_KEPT), or a change names no document, the index is built anew.
The base's creation time, revision and embedding model are part of the index's key: a reused id (a
restored database) or a re-indexed base gets a new one.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

from ..models import Chunk, ChunkChange, KnowledgeBase
from .lexical import LexicalIndex
from .vectors import VectorIndex


@dataclass
class Delta:
    """What a set of changes asks to reload: whole documents and single chunks."""

    documents: set[int]
    chunks: set[int]


class BaseIndex:
    def __init__(self, kb_id: int, key: tuple[Any, ...], version: int):
        self.kb_id, self.key, self.version = kb_id, key, version
        self._vectors: VectorIndex | None = None
        self._lexical: LexicalIndex | None = None
        self._lock = threading.Lock()
        #: How many deltas were applied and full builds made (for tests and the bench).
        self.deltas = self.builds = 0

    def vectors(self) -> VectorIndex:
        with self._lock:
            if self._vectors is None:
                self._vectors = _load_vectors(self.kb_id)
                self.builds += 1
            return self._vectors

    def lexical(self) -> LexicalIndex:
        with self._lock:
            if self._lexical is None:
                self._lexical = _load_lexical(self.kb_id)
                self.builds += 1
            return self._lexical

    def refresh(self, version: int) -> None:
        """Bring what is held up to `version` of the base's chunks."""
        with self._lock:
            if version == self.version:
                return
            delta = _changes(self.kb_id, self.version, version)
            if delta is None:
                self._vectors = self._lexical = None  # built again on next use
            elif self._vectors is not None or self._lexical is not None:
                self._apply(delta)
                self.deltas += 1
            self.version = version

    def _apply(self, delta: Delta) -> None:
        rows = _changed_rows(self.kb_id, delta)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        documents = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        removed_ids = np.fromiter(delta.chunks, dtype=np.int64)
        removed_documents = np.fromiter(delta.documents, dtype=np.int64)
        if self._lexical is not None:
            self._lexical.changed(
                removed_ids=removed_ids,
                removed_documents=removed_documents,
                ids=ids,
                documents=documents,
                texts=[f"{heading}\n{text}" for _, _, heading, text, _ in rows],
            )
        if self._vectors is not None:
            embedded = [i for i, r in enumerate(rows) if r[4] is not None]
            width = self._vectors.width or (len(rows[embedded[0]][4]) // 4 if embedded else 0)
            embedded = [i for i in embedded if len(rows[i][4]) == width * 4]
            flat = b"".join(bytes(rows[i][4]) for i in embedded)
            self._vectors.changed(
                removed_ids=removed_ids,
                removed_documents=removed_documents,
                ids=ids[embedded],
                documents=documents[embedded],
                matrix=np.frombuffer(flat, dtype="<f4").reshape(len(embedded), width),
            )


_held: dict[int, BaseIndex] = {}
_held_lock = threading.Lock()


def base_indexes(kbs: list[KnowledgeBase]) -> list[BaseIndex]:
    """The current in-memory index of each base (a new, empty one for a base it never held)."""
    return indexes_at(kbs, base_versions([kb.pk for kb in kbs]))


def base_versions(kb_ids: list[int]) -> dict[int, int]:
    """The chunks_version of each base, by id (a deleted base is missing)."""
    return dict(KnowledgeBase.objects.filter(pk__in=kb_ids).values_list("pk", "chunks_version"))


def indexes_at(kbs: list[KnowledgeBase], versions: dict[int, int]) -> list[BaseIndex]:
    """The index of each base brought to its version in `versions` (0 when missing)."""
    indexes = []
    for kb in kbs:
        key = _key(kb)
        version = versions.get(kb.pk, 0)
        with _held_lock:
            held = _held.get(kb.pk)
            if held is None or held.key != key or version < held.version:
                held = _held[kb.pk] = BaseIndex(kb.pk, key, version)
        held.refresh(version)
        indexes.append(held)
    return indexes


def held_indexes(kbs: list[KnowledgeBase]) -> list[BaseIndex] | None:
    """The indexes this process holds for `kbs` as they are, without reading the bases'
    versions; None when one of them is not held (or was built for another revision). The
    caller checks the versions afterwards (knowledge.search reads them with the found rows)."""
    with _held_lock:
        held = [_held.get(kb.pk) for kb in kbs]
    if any(h is None or h.key != _key(kb) for h, kb in zip(held, kbs, strict=True)):
        return None
    return held  # type: ignore[return-value]


def _key(kb: KnowledgeBase) -> tuple[Any, ...]:
    return (kb.created_at, kb.embedding_model, kb.revision)


def _changes(kb_id: int, since: int, upto: int) -> Delta | None:
    """The chunks the base's changes after `since` up to `upto` name, or None to build anew."""
    changes = list(
        ChunkChange.objects.filter(
            knowledge_base_id=kb_id, version__gt=since, version__lte=upto
        ).values_list("document_id", "chunk_ids")
    )
    if len(changes) != upto - since:
        return None  # pruned, or made before changes were recorded
    delta = Delta(set(), set())
    for document_id, chunk_ids in changes:
        if document_id is None:
            return None
        if chunk_ids is None:
            delta.documents.add(document_id)
        else:
            delta.chunks.update(chunk_ids)
    return delta


def _changed_rows(kb_id: int, delta: Delta) -> list[tuple]:
    table = Chunk._meta.db_table
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        for column, values in (("document_id", delta.documents), ("id", delta.chunks)):
            values = sorted(values)
            for start in range(0, len(values), 500):
                part = values[start : start + 500]
                # By document or id alone, so the planner takes that index: with the base's id
                # too, SQLite walked the base's (knowledge_base, id) index, every chunk of it.
                cursor.execute(
                    f"SELECT id, document_id, heading, text, embedding, knowledge_base_id "  # noqa: S608
                    f"FROM {table} WHERE {column} IN ({', '.join(['%s'] * len(part))})",
                    part,
                )
                rows += cursor.fetchall()
    seen: set[int] = set()
    return [r[:5] for r in rows if r[5] == kb_id and not (r[0] in seen or seen.add(r[0]))]


def _load_vectors(kb_id: int) -> VectorIndex:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, document_id, embedding FROM knowledge_chunk WHERE knowledge_base_id = %s "
            "AND embedding IS NOT NULL ORDER BY id",
            [kb_id],
        )
        rows = cursor.fetchall()
    limits = {"exact_limit": settings.KNOWLEDGE_EXACT_SCAN_MAX, "pool": settings.KNOWLEDGE_POOL}
    if not rows:
        empty = np.zeros(0, np.int64)
        return VectorIndex(empty, empty, np.zeros((0, 0), np.float32), **limits)
    # Vectors of another length (a model changed mid-way) cannot be stacked; the base is being
    # re-indexed then, and only the vectors of its current length are searched.
    width = Counter(len(r[2]) for r in rows).most_common(1)[0][0]
    keep = [r for r in rows if len(r[2]) == width]
    ids = np.fromiter((r[0] for r in keep), dtype=np.int64, count=len(keep))
    documents = np.fromiter((r[1] for r in keep), dtype=np.int64, count=len(keep))
    flat = b"".join(bytes(r[2]) for r in keep)
    matrix = np.frombuffer(flat, dtype="<f4").reshape(len(keep), width // 4)
    return VectorIndex(ids, documents, matrix, **limits)


def _load_lexical(kb_id: int) -> LexicalIndex:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, document_id, heading, text FROM knowledge_chunk "
            "WHERE knowledge_base_id = %s ORDER BY id",
            [kb_id],
        )
        rows = cursor.fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    documents = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    return LexicalIndex(ids, (f"{heading}\n{text}" for _, _, heading, text in rows), documents)

"""Hybrid retrieval: vector similarity and lexical search, fused by reciprocal rank.

One interface whatever the database:
- lexical: SQLite FTS5 (bm25) or PostgreSQL full-text search (ts_rank_cd over a GIN-indexed
  tsvector), both created by this app's migrations;
- vector: an exact scan with numpy over the chunks' float32 embeddings, held in memory per
  knowledge base and reloaded when its chunks change (a few ms per 10,000 chunks, see
  bench/retrieval.py).

Fusion is reciprocal rank fusion (Cormack et al., k=60) weighted by `hybrid_weight` (1: vector
only, 0: lexical only, so no query embedding is made). The score shown is the fused score
scaled to 0..1 (1: first in every list that was asked). `min_score` is a floor on the cosine
similarity of a vector match; lexical matches share a query term and always count.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import QuerySet

from .embeddings import embed_cached, from_bytes
from .models import Chunk, KnowledgeBase

RRF_K = 60
MIN_CANDIDATES = 50
MAX_QUERY_TERMS = 32
_TERM = re.compile(r"[^\W_]+", re.UNICODE)
#: English words too common to rank by (a subset of PostgreSQL's english stop list).
_STOP_WORDS = (
    "a about above after again all am an and any are as at be been before being below between "
    "both but by can could did do does doing down during each few for from further had has have "
    "having he her here hers him his how i if in into is it its itself just me more most my no "
    "nor not now of off on once only or other our ours out over own same she should so some "
    "such than that the their theirs them then there these they this those through to too under "
    "until up very was we were what when where which while who whom why will with would you "
    "your yours"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())


@dataclass
class Hit:
    chunk_id: int
    document_id: int
    knowledge_base_id: int
    text: str = ""
    heading: str = ""
    location: str = ""
    source: str = ""
    title: str = ""
    score: float = 0.0
    similarity: float | None = None
    vector_rank: int | None = None
    lexical_rank: int | None = None

    @property
    def retriever(self) -> str:
        if self.vector_rank is not None and self.lexical_rank is not None:
            return "both"
        return "vector" if self.vector_rank is not None else "lexical"

    @property
    def citation(self) -> str:
        return f"{self.source} ({self.location})" if self.location else self.source

    def as_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "knowledge_base_id": self.knowledge_base_id,
            "text": self.text,
            "heading": self.heading,
            "source": self.citation,
            "title": self.title,
            "score": round(self.score, 4),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "retriever": self.retriever,
            "vector_rank": self.vector_rank,
            "lexical_rank": self.lexical_rank,
        }


@dataclass
class SearchResult:
    hits: list[Hit] = field(default_factory=list)
    embedding_models: list[str] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    embedding_calls: int = 0


# ---- fusion (pure) ---------------------------------------------------------------------------


def fuse(
    vector: list[tuple[int, float]],
    lexical: list[int],
    *,
    hybrid_weight: float,
    k: int = RRF_K,
) -> list[tuple[int, float, int | None, int | None]]:
    """Fuse two ranked lists of chunk ids: [(id, score 0..1, vector rank, lexical rank)].

    `vector` holds (id, similarity) best first; `lexical` ids best first. Ranks are 1-based.
    Ties keep the vector order, then the lexical order.
    """
    weights = (hybrid_weight, 1.0 - hybrid_weight)
    best = sum(w for w, ranked in zip(weights, (vector, lexical), strict=True) if ranked) / (k + 1)
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for rank, (chunk_id, _similarity) in enumerate(vector, start=1):
        scores[chunk_id] = scores.get(chunk_id, 0.0) + weights[0] / (k + rank)
        ranks.setdefault(chunk_id, [None, None])[0] = rank
    for rank, chunk_id in enumerate(lexical, start=1):
        scores[chunk_id] = scores.get(chunk_id, 0.0) + weights[1] / (k + rank)
        ranks.setdefault(chunk_id, [None, None])[1] = rank
    order = {chunk_id: i for i, chunk_id in enumerate(scores)}
    fused = sorted(scores, key=lambda c: (-scores[c], order[c]))
    return [
        (c, (scores[c] / best) if best else 0.0, ranks[c][0], ranks[c][1])
        for c in fused
        if scores[c] > 0
    ]


def query_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, each once, in order (at most MAX_QUERY_TERMS)."""
    seen: dict[str, None] = {}
    for term in _TERM.findall(query.lower()):
        seen.setdefault(term, None)
    return list(seen)[:MAX_QUERY_TERMS]


# ---- vector search ---------------------------------------------------------------------------


class _Matrix:
    def __init__(self, key: tuple[Any, ...], ids: np.ndarray, vectors: np.ndarray):
        self.key, self.ids, self.vectors = key, ids, vectors


_matrices: dict[int, _Matrix] = {}
_matrices_lock = threading.Lock()


def _matrix(kb: KnowledgeBase) -> _Matrix:
    """The knowledge base's embedded chunks as one matrix, reloaded when they change.

    Every change to its chunks (stored, embedded, deleted) bumps the base's chunks_version in the
    same transaction; one indexed read tells whether the matrix is current. The base's creation
    time tells a reused id (a restored database) apart."""
    version = KnowledgeBase.objects.values_list("chunks_version", flat=True).get(pk=kb.pk)
    key = (kb.created_at, kb.embedding_model, kb.revision, version)
    with _matrices_lock:
        cached = _matrices.get(kb.pk)
        if cached is not None and cached.key == key:
            return cached
    embedded = Chunk.objects.filter(knowledge_base=kb, embedding__isnull=False)
    rows = list(embedded.order_by("id").values_list("id", "embedding"))
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.vstack([from_bytes(r[1]) for r in rows]) if rows else np.zeros((0, 0), np.float32)
    matrix = _Matrix(key, ids, vectors)
    with _matrices_lock:
        _matrices[kb.pk] = matrix
    return matrix


def vector_search(
    kbs: list[KnowledgeBase],
    query_vector: np.ndarray,
    *,
    limit: int,
    allowed: set[int] | None,
    min_similarity: float,
) -> list[tuple[int, float]]:
    """The chunks most similar to `query_vector`: [(id, cosine)] best first."""
    found: list[tuple[int, float]] = []
    for kb in kbs:
        matrix = _matrix(kb)
        found.extend(
            nearest(
                matrix.ids,
                matrix.vectors,
                query_vector,
                limit=limit,
                min_similarity=min_similarity,
                allowed=allowed,
            )
        )
    found.sort(key=lambda pair: (-pair[1], pair[0]))
    return found[:limit]


def nearest(
    ids: np.ndarray,
    vectors: np.ndarray,
    query_vector: np.ndarray,
    *,
    limit: int,
    min_similarity: float,
    allowed: set[int] | None = None,
) -> list[tuple[int, float]]:
    """The rows of `vectors` (unit length) most similar to `query_vector`: an exact scan.

    Returns [(id, cosine)] best first, at least `min_similarity`; `allowed` restricts the ids.
    Rows of another dimension (another model's vectors) match nothing."""
    if not len(ids) or vectors.ndim != 2 or vectors.shape[1] != query_vector.shape[0]:
        return []
    # The same dtype as the matrix: a float64 query would copy the whole matrix to float64 on
    # every search (23 ms instead of 2 at 20,000 chunks).
    similarity = vectors @ np.asarray(query_vector, dtype=vectors.dtype)
    if allowed is not None:
        similarity = np.where(np.isin(ids, list(allowed)), similarity, -np.inf)
    n = min(limit, len(similarity))
    top = np.argpartition(-similarity, n - 1)[:n]
    found = [
        (int(ids[i]), float(similarity[i]))
        for i in top
        if similarity[i] >= min_similarity and np.isfinite(similarity[i])
    ]
    found.sort(key=lambda pair: (-pair[1], pair[0]))
    return found


# ---- lexical search --------------------------------------------------------------------------


def lexical_search(
    kbs: list[KnowledgeBase], query: str, *, limit: int, allowed: QuerySet | None
) -> list[int]:
    """Chunk ids matching the query's words, best first (bm25 / ts_rank_cd).

    Stop words are left out (PostgreSQL's English configuration drops them too): "the" matches
    nearly every chunk, and ranking every match made a query at 20,000 chunks take 160 ms."""
    terms = [t for t in query_terms(query) if t not in STOP_WORDS] or query_terms(query)
    if not terms or not kbs:
        return []
    kb_ids = [kb.pk for kb in kbs]
    placeholders = ", ".join(["%s"] * len(kb_ids))
    extra_sql, extra_params = "", []
    if allowed is not None:
        sub_sql, sub_params = allowed.values("id").query.sql_with_params()
        extra_sql, extra_params = f" AND c.id IN ({sub_sql})", list(sub_params)
    # Only placeholders and the SQL Django compiled for `allowed` are interpolated; every value
    # is a parameter.
    if connection.vendor == "postgresql":
        sql = (
            "SELECT c.id FROM knowledge_chunk c, to_tsquery('english', %s) q "  # noqa: S608
            f"WHERE c.search @@ q AND c.knowledge_base_id IN ({placeholders}){extra_sql} "
            "ORDER BY ts_rank_cd(c.search, q) DESC, c.id LIMIT %s"
        )
        params = [" | ".join(terms), *kb_ids, *extra_params, limit]
    else:
        sql = (
            "SELECT c.id FROM knowledge_chunk_fts f JOIN knowledge_chunk c ON c.id = f.rowid "  # noqa: S608
            f"WHERE knowledge_chunk_fts MATCH %s AND c.knowledge_base_id IN ({placeholders})"
            f"{extra_sql} ORDER BY bm25(knowledge_chunk_fts), c.id LIMIT %s"
        )
        params = [" OR ".join(f'"{t}"' for t in terms), *kb_ids, *extra_params, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


# ---- filters ---------------------------------------------------------------------------------

FILTER_FIELDS = {
    "document": "document_id",
    "title": "document__title",
    "source": "document__source",
    "format": "document__file_format",
}


def filtered_chunks(kbs: list[KnowledgeBase], filters: dict[str, Any] | None) -> QuerySet | None:
    """The chunks the filters allow, or None for no filter.

    Keys: document (id), title, source, format, or metadata.<key> for a document's metadata;
    a list value means any of them."""
    if not filters:
        return None
    chunks = Chunk.objects.filter(knowledge_base__in=kbs)
    for key, value in filters.items():
        if key.startswith("metadata."):
            field_name = "document__metadata__" + key.removeprefix("metadata.")
        else:
            field_name = FILTER_FIELDS[key]
        chunks = chunks.filter(
            **({f"{field_name}__in": value} if isinstance(value, list) else {field_name: value})
        )
    return chunks


def check_filters(filters: dict[str, Any] | None) -> list[str]:
    """The problems with a filters document (empty if it is usable)."""
    problems = []
    for key, value in (filters or {}).items():
        if key not in FILTER_FIELDS and not re.fullmatch(r"metadata\.[A-Za-z0-9_\-]{1,64}", key):
            known = ", ".join([*FILTER_FIELDS, "metadata.<key>"])
            problems.append(f"“{key}” is not a filter (use {known})")
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str | int | float | bool) for v in values):
            problems.append(f"“{key}” must be a text, number or list of them")
    return problems


# ---- the interface ---------------------------------------------------------------------------


def search(
    kbs: Iterable[KnowledgeBase],
    query: str,
    *,
    top_k: int = 5,
    min_score: float = 0.0,
    hybrid_weight: float = 0.5,
    filters: dict[str, Any] | None = None,
) -> SearchResult:
    """The `top_k` chunks of `kbs` that best answer `query`, best first."""
    kbs = list(kbs)
    result = SearchResult()
    query = query.strip()
    if not query_terms(query) or not kbs:
        return result  # nothing to search for: no words (punctuation alone matches nothing)
    limit = max(MIN_CANDIDATES, top_k * 4)
    allowed_chunks = filtered_chunks(kbs, filters)
    allowed = (
        set(allowed_chunks.values_list("id", flat=True)) if allowed_chunks is not None else None
    )
    vector: list[tuple[int, float]] = []
    if hybrid_weight > 0:
        by_model: dict[str, list[KnowledgeBase]] = {}
        for kb in kbs:
            by_model.setdefault(kb.embedding_model, []).append(kb)
        for model, group in by_model.items():
            embedded = embed_cached([query], model=model)
            result.embedding_models.append(embedded.model)
            result.tokens += embedded.tokens
            result.cost += embedded.cost
            result.embedding_calls += embedded.calls
            vector += vector_search(
                group,
                embedded.vectors[0],
                limit=limit,
                allowed=allowed,
                min_similarity=min_score if min_score > 0 else -np.inf,
            )
        vector.sort(key=lambda pair: (-pair[1], pair[0]))
        vector = vector[:limit]
    lexical = (
        lexical_search(kbs, query, limit=limit, allowed=allowed_chunks) if hybrid_weight < 1 else []
    )
    similarity = dict(vector)
    fused = fuse(vector, lexical, hybrid_weight=hybrid_weight)[:top_k]
    chunks = (
        Chunk.objects.select_related("document")
        .defer("embedding", "document__content")
        .in_bulk([c for c, *_ in fused])
    )
    for chunk_id, score, vector_rank, lexical_rank in fused:
        chunk = chunks.get(chunk_id)
        if chunk is None:
            continue  # deleted since it was found
        result.hits.append(
            Hit(
                chunk_id=chunk_id,
                document_id=chunk.document_id,
                knowledge_base_id=chunk.knowledge_base_id,
                text=chunk.text,
                heading=chunk.heading,
                location=chunk.location,
                source=chunk.document.source,
                title=chunk.document.title,
                score=score,
                similarity=similarity.get(chunk_id),
                vector_rank=vector_rank,
                lexical_rank=lexical_rank,
            )
        )
    return result

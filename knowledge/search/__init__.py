"""Hybrid retrieval: vector similarity and lexical search, fused by reciprocal rank.

One interface and one ranking whatever the database, over each knowledge base's index held in
memory (knowledge.search.index, updated by the delta when its chunks change):
- vector: the chunks' float32 embeddings, scanned exactly up to KNOWLEDGE_EXACT_SCAN_MAX chunks,
  beyond that through their sign bits first (knowledge.search.vectors);
- lexical: BM25 over the base's postings (knowledge.search.lexical: stemmed words, stop words
  left out).

Fusion is reciprocal rank fusion (Cormack et al., k=60) weighted by `hybrid_weight` (1: vector
only, 0: lexical only, so no query embedding is made). The score shown is the fused score
scaled to 0..1 (1: first in every list that was asked). `min_score` is a floor on the cosine
similarity of a vector match; lexical matches share a query term and always count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import QuerySet

from ..embeddings import embed_cached
from ..models import Chunk, Document, KnowledgeBase
from .index import BaseIndex, base_indexes, held_indexes, indexes_at
from .lexical import MAX_QUERY_TERMS, STOP_WORDS, query_terms
from .vectors import similarities

__all__ = [
    "MAX_QUERY_TERMS",
    "STOP_WORDS",
    "Hit",
    "SearchResult",
    "check_filters",
    "filtered_chunks",
    "fuse",
    "lexical_search",
    "nearest",
    "query_terms",
    "search",
    "vector_search",
]

RRF_K = 60
MIN_CANDIDATES = 50
#: In hybrid search a word match counts only if its words carry at least this share of the
#: query's weight (the idf of its terms; a term no chunk has weighs most). A chunk sharing one
#: everyday word with a question asked in other words than its answer ("paid", "month")
#: otherwise takes a place in the fused list beside the meaning matches (bench/retrieval.py
#: prints recall by coverage; docs/knowledge.md has the figures).
HYBRID_MIN_COVERAGE = 0.3
#: Searches of the held indexes before the one whose versions were current is taken as it is
#: (bases changing faster than a search: the last one, a version behind at most, is answered).
SEARCH_ATTEMPTS = 3


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


# ---- vector search ---------------------------------------------------------------------------


def vector_search(
    kbs: list[KnowledgeBase],
    query_vector: np.ndarray,
    *,
    limit: int,
    allowed: set[int] | None,
    min_similarity: float,
) -> list[tuple[int, float]]:
    """The chunks most similar to `query_vector`: [(id, cosine)] best first."""
    return _vector(
        base_indexes(kbs), query_vector, limit=limit, allowed=allowed, min_similarity=min_similarity
    )


def _vector(
    indexes: list[BaseIndex],
    query_vector: np.ndarray,
    *,
    limit: int,
    allowed: set[int] | None,
    min_similarity: float,
) -> list[tuple[int, float]]:
    found: list[tuple[int, float]] = []
    for index in indexes:
        found += index.vectors().search(
            query_vector, limit=limit, allowed=allowed, min_similarity=min_similarity
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
    # every search (23 ms instead of 2 at 20,000 chunks). numpy's own loop, not BLAS, whose
    # spinning threads make a loaded machine's searches wait (knowledge.search.vectors).
    similarity = similarities(vectors, np.asarray(query_vector, dtype=vectors.dtype))
    if allowed is not None:
        similarity = np.where(np.isin(ids, list(allowed)), similarity, -np.inf)
    n = min(limit, len(similarity))
    top = np.argpartition(similarity, len(similarity) - n)[len(similarity) - n :]
    found = [
        (int(ids[i]), float(similarity[i]))
        for i in top
        if similarity[i] >= min_similarity and np.isfinite(similarity[i])
    ]
    found.sort(key=lambda pair: (-pair[1], pair[0]))
    return found


# ---- lexical search --------------------------------------------------------------------------


def lexical_search(
    kbs: list[KnowledgeBase], query: str, *, limit: int, allowed: set[int] | None
) -> list[int]:
    """Chunk ids sharing words with the query, best first (BM25, ties by id)."""
    return _lexical(base_indexes(kbs), query, limit=limit, allowed=allowed)


def _lexical(
    indexes: list[BaseIndex],
    query: str,
    *,
    limit: int,
    allowed: set[int] | None,
    min_coverage: float = 0.0,
) -> list[int]:
    words = query_terms(query)
    found: list[tuple[int, float]] = []
    for index in indexes:
        found += index.lexical().search(
            words, limit=limit, allowed=allowed, min_coverage=min_coverage
        )
    found.sort(key=lambda pair: (-pair[1], pair[0]))
    return [chunk_id for chunk_id, _ in found[:limit]]


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
    query_vectors: dict[str, np.ndarray] = {}
    if hybrid_weight > 0:
        for model in dict.fromkeys(kb.embedding_model for kb in kbs):
            embedded = embed_cached([query], model=model)
            result.embedding_models.append(embedded.model)
            result.tokens += embedded.tokens
            result.cost += embedded.cost
            result.embedding_calls += embedded.calls
            query_vectors[model] = embedded.vectors[0]
    # The indexes held are searched first and the bases' versions read with the rows found, in
    # one statement: when a base changed meanwhile its index takes the delta and the search is
    # made again. A base this process does not hold yet is built at the version read first.
    held = held_indexes(kbs)
    indexes = held if held is not None else base_indexes(kbs)
    for _attempt in range(SEARCH_ATTEMPTS):
        searched = [index.version for index in indexes]
        ranked = _rank(
            kbs, indexes, query, query_vectors, limit=limit, allowed=allowed,
            min_score=min_score, hybrid_weight=hybrid_weight,
        )  # fmt: skip
        fused = fuse(ranked[0], ranked[1], hybrid_weight=hybrid_weight)[:top_k]
        chunks, versions = _chunk_rows([c for c, *_ in fused], [kb.pk for kb in kbs])
        if all(versions.get(kb.pk, 0) == v for kb, v in zip(kbs, searched, strict=True)):
            break
        indexes = indexes_at(kbs, versions)
    similarity = dict(ranked[0])
    for chunk_id, score, vector_rank, lexical_rank in fused:
        row = chunks.get(chunk_id)
        if row is None:
            continue  # deleted since it was found
        document_id, kb_id, text, heading, location, source, title = row
        result.hits.append(
            Hit(
                chunk_id=chunk_id,
                document_id=document_id,
                knowledge_base_id=kb_id,
                text=text,
                heading=heading,
                location=location,
                source=source,
                title=title,
                score=score,
                similarity=similarity.get(chunk_id),
                vector_rank=vector_rank,
                lexical_rank=lexical_rank,
            )
        )
    return result


def _rank(
    kbs: list[KnowledgeBase],
    indexes: list[BaseIndex],
    query: str,
    query_vectors: dict[str, np.ndarray],
    *,
    limit: int,
    allowed: set[int] | None,
    min_score: float,
    hybrid_weight: float,
) -> tuple[list[tuple[int, float]], list[int]]:
    """The vector matches [(id, cosine)] and the lexical ones [id] of `indexes`, best first."""
    vector: list[tuple[int, float]] = []
    if query_vectors:
        by_model: dict[str, list[BaseIndex]] = {}
        for kb, index in zip(kbs, indexes, strict=True):
            by_model.setdefault(kb.embedding_model, []).append(index)
        for model, group in by_model.items():
            vector += _vector(
                group,
                query_vectors[model],
                limit=limit,
                allowed=allowed,
                min_similarity=min_score if min_score > 0 else -np.inf,
            )
        vector.sort(key=lambda pair: (-pair[1], pair[0]))
        vector = vector[:limit]
    lexical = (
        _lexical(
            indexes,
            query,
            limit=limit,
            allowed=allowed,
            min_coverage=HYBRID_MIN_COVERAGE if hybrid_weight > 0 else 0.0,
        )
        if hybrid_weight < 1
        else []
    )
    return vector, lexical


def _chunk_rows(ids: list[int], kb_ids: list[int]) -> tuple[dict[int, tuple], dict[int, int]]:
    """The found chunks with their document's source and title, by id, and the bases'
    chunks_version, in one plain statement: one round trip (on PostgreSQL each costs the
    server process's turn on the cores), and no queryset to compile (that cost as much as the
    search's vector pass)."""
    chunk, document, base = (
        Chunk._meta.db_table,
        Document._meta.db_table,
        KnowledgeBase._meta.db_table,
    )
    sql = (
        f"SELECT 0, id, chunks_version, NULL, NULL, NULL, NULL, NULL, NULL FROM {base} "  # noqa: S608
        f"WHERE id IN ({', '.join(['%s'] * len(kb_ids))})"
    )
    if ids:
        sql += (
            f" UNION ALL SELECT 1, c.id, c.document_id, c.knowledge_base_id, c.text, c.heading, "  # noqa: S608
            f"c.location, d.source, d.title FROM {chunk} c JOIN {document} d "
            f"ON d.id = c.document_id WHERE c.id IN ({', '.join(['%s'] * len(ids))})"
        )
    chunks, versions = {}, {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*kb_ids, *ids])
        for kind, key, *row in cursor.fetchall():
            if kind:
                chunks[key] = tuple(row)
            else:
                versions[key] = row[0]
    return chunks, versions

"""Operations on knowledge bases and their documents. Raise domain errors; never dispatch.

Functions that make ingestion necessary return the ids of the documents to ingest; the edges
hand them to `knowledge.dispatch.kick_ingest`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from config.domain import Conflict, Invalid, NotAllowed, NotFound, TooLarge
from runs.llm.embeddings import is_local
from runs.llm.providers import configured_providers, resolve
from runs.llm.response import LlmError
from runs.tools.addresses import AddressPolicy, is_public_address
from runs.tools.base import ToolError
from workspaces.services import PermissionDenied, membership_for, require

from . import parsing
from .models import Chunk, Document, DocumentStatus, KnowledgeBase, SourceKind
from .search import SearchResult, check_filters, search

MIN_CHUNK_SIZE = 100
MAX_CHUNK_SIZE = 8_000
URL_TIMEOUT = 15.0


def max_document_bytes() -> int:
    return settings.KNOWLEDGE_MAX_DOCUMENT_BYTES


# ---- knowledge bases -------------------------------------------------------------------------


def kbs_visible_to(user) -> QuerySet[KnowledgeBase]:
    if not user.is_authenticated:
        return KnowledgeBase.objects.none()
    return KnowledgeBase.objects.filter(workspace__memberships__user=user)


def kbs_with_counts(*, user, workspace_id: int | None = None) -> QuerySet[KnowledgeBase]:
    kbs = kbs_visible_to(user)
    if workspace_id is not None:
        kbs = kbs.filter(workspace_id=workspace_id)
    return kbs.annotate(document_count=Count("documents", distinct=True)).order_by("name")[:500]


def kb_get(*, user, kb_id: int, permission: str = "read") -> KnowledgeBase:
    """A knowledge base the user may act on: 404 outside their workspaces, 403 for a weaker role."""
    kb = kbs_visible_to(user).select_related("workspace").filter(pk=kb_id).first()
    if kb is None:
        raise NotFound("Knowledge base not found")
    _require(user, kb.workspace_id, permission)
    return kb


def _require(user, workspace_id: int, permission: str) -> None:
    try:
        require(user=user, workspace_id=workspace_id, permission=permission)
    except PermissionDenied as exc:
        raise NotAllowed("Your role does not allow this.") from exc


def check_embedding_model(name: str) -> str:
    """The model name if it can embed; Invalid with the reason otherwise."""
    name = (name or "").strip()
    if is_local(name):
        return name.lower()
    try:
        resolve(name, configured_providers())
    except LlmError as exc:
        raise Invalid(exc.message, code="unknown_embedding_model") from exc
    if name.partition("/")[0] == "local":
        raise Invalid(
            f"“{name}” is not a local embedding model (the local one is "
            f"{settings.SWITCHBOARD_EMBEDDING_MODEL}).",
            code="unknown_embedding_model",
        )
    return name


def _check_chunking(size: int, overlap: int) -> None:
    if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
        raise Invalid(
            f"Chunk size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} characters.",
            code="invalid_chunking",
        )
    if not 0 <= overlap <= size // 2:
        raise Invalid(
            "Chunk overlap must be between 0 and half the chunk size.", code="invalid_chunking"
        )


def kb_create(
    *,
    user,
    workspace_id: int,
    name: str,
    description: str = "",
    chunk_size: int = 800,
    chunk_overlap: int = 100,
    embedding_model: str | None = None,
) -> KnowledgeBase:
    if membership_for(user=user, workspace_id=workspace_id) is None:
        raise NotFound("Workspace not found")
    _require(user, workspace_id, "edit")
    _check_chunking(chunk_size, chunk_overlap)
    model = check_embedding_model(embedding_model or settings.SWITCHBOARD_EMBEDDING_MODEL)
    try:
        with transaction.atomic():
            return KnowledgeBase.objects.create(
                workspace_id=workspace_id,
                name=name,
                description=description,
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
                embedding_model=model,
                created_by=user,
            )
    except IntegrityError as exc:
        raise Conflict(
            f"A knowledge base called “{name}” already exists here.", code="duplicate_name"
        ) from exc


INDEX_SETTINGS = ("chunk_size", "chunk_overlap", "embedding_model")


def kb_update(*, kb: KnowledgeBase, changes: dict[str, Any]) -> tuple[KnowledgeBase, list[int]]:
    """Change a knowledge base; a new chunking or embedding model re-indexes every document.

    Returns the knowledge base and the documents to ingest."""
    if "embedding_model" in changes:
        changes["embedding_model"] = check_embedding_model(changes["embedding_model"])
    size = changes.get("chunk_size", kb.chunk_size)
    overlap = changes.get("chunk_overlap", kb.chunk_overlap)
    _check_chunking(size, overlap)
    reindex = any(k in changes and changes[k] != getattr(kb, k) for k in INDEX_SETTINGS)
    for key, value in changes.items():
        setattr(kb, key, value)
    kb.updated_at = timezone.now()
    with transaction.atomic():
        if reindex:
            kb.revision += 1
        try:
            with transaction.atomic():
                # Never chunks_version: the object may hold an older one than ingestion wrote.
                kb.save(update_fields=[*changes, "updated_at", "revision"])
        except IntegrityError as exc:
            raise Conflict(
                f"A knowledge base called “{kb.name}” already exists here.", code="duplicate_name"
            ) from exc
        # Failed ones too: a new chunk size may be what they needed.
        to_ingest = _requeue(kb.documents.all()) if reindex else []
    return kb, to_ingest


def _requeue(documents: QuerySet[Document]) -> list[int]:
    ids = list(documents.values_list("id", flat=True))
    Document.objects.filter(pk__in=ids).update(
        status=DocumentStatus.QUEUED,
        chunks_done=0,
        error_code="",
        error_message="",
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    return ids


def kb_delete(*, kb: KnowledgeBase) -> None:
    kb.delete()


def kb_search(
    *,
    kb: KnowledgeBase,
    query: str,
    top_k: int = 5,
    min_score: float = 0.0,
    hybrid_weight: float = 0.5,
    filters: dict[str, Any] | None = None,
) -> SearchResult:
    problems = check_filters(filters)
    if problems:
        raise Invalid("; ".join(problems), code="invalid_filters")
    try:
        return search(
            [kb],
            query,
            top_k=top_k,
            min_score=min_score,
            hybrid_weight=hybrid_weight,
            filters=filters,
        )
    except LlmError as exc:
        raise Invalid(
            f"The query could not be embedded: {exc.message}", code=f"embedding_{exc.code}"
        ) from exc


# ---- documents -------------------------------------------------------------------------------


def document_get(*, user, document_id: int, permission: str = "read") -> Document:
    document = (
        Document.objects.select_related("knowledge_base")
        .filter(knowledge_base__workspace__memberships__user=user, pk=document_id)
        .defer("content")
        .first()
        if user.is_authenticated
        else None
    )
    if document is None:
        raise NotFound("Document not found")
    _require(user, document.knowledge_base.workspace_id, permission)
    return document


def document_add(
    *,
    user,
    kb: KnowledgeBase,
    content: bytes,
    file_format: str,
    title: str,
    source: str,
    source_kind: str,
    metadata: dict[str, Any] | None = None,
) -> Document:
    """Store a document to be ingested. Duplicates (same bytes in this base) are refused."""
    if len(content) > max_document_bytes():
        raise TooLarge(
            f"The document is {len(content) / 1e6:.1f} MB; the limit is "
            f"{max_document_bytes() / 1e6:.0f} MB.",
            code="document_too_large",
            limit=max_document_bytes(),
        )
    if not content.strip():
        raise Invalid("The document is empty.", code="empty_document")
    if file_format not in parsing.FORMATS:
        raise Invalid(
            f"“{file_format}” files are not supported: use {', '.join(parsing.FORMATS)}.",
            code="unsupported_format",
        )
    digest = hashlib.sha256(content).hexdigest()
    existing = kb.documents.filter(content_hash=digest).values_list("id", "title").first()
    if existing:
        raise Conflict(
            f"This document is already in the knowledge base (as “{existing[1]}”).",
            code="duplicate_document",
            document=existing[0],
        )
    try:
        with transaction.atomic():
            return Document.objects.create(
                knowledge_base=kb,
                title=(title or source or "Untitled")[:300],
                source=source[:2048],
                source_kind=source_kind,
                file_format=file_format,
                content=content,
                content_hash=digest,
                size_bytes=len(content),
                metadata=metadata or {},
                created_by=user,
            )
    except IntegrityError as exc:
        raise Conflict(
            "This document is already in the knowledge base.", code="duplicate_document"
        ) from exc


def document_upload(
    *, user, kb: KnowledgeBase, name: str, content_type: str, content: bytes, metadata=None
) -> Document:
    file_format = parsing.format_for(name, content_type)
    if file_format is None:
        raise Invalid(
            f"“{name}” is not a file type that can be read: upload "
            f"{', '.join(parsing.FORMATS)} files.",
            code="unsupported_format",
        )
    return document_add(
        user=user,
        kb=kb,
        content=content,
        file_format=file_format,
        title=name,
        source=name,
        source_kind=SourceKind.UPLOAD,
        metadata=metadata,
    )


def document_upload_file(*, user, kb: KnowledgeBase, upload, title: str = "") -> Document:
    """Store an uploaded file (read at most one byte past the limit, so a huge one is refused
    without being held in memory)."""
    if upload.size is not None and upload.size > max_document_bytes():
        raise TooLarge(
            f"“{upload.name}” is {upload.size / 1e6:.1f} MB; the limit is "
            f"{max_document_bytes() / 1e6:.0f} MB.",
            code="document_too_large",
            limit=max_document_bytes(),
        )
    content = upload.read(max_document_bytes() + 1)
    document = document_upload(
        user=user,
        kb=kb,
        name=upload.name or "upload",
        content_type=upload.content_type or "",
        content=content,
    )
    if title.strip():
        document.title = title.strip()[:300]
        document.save(update_fields=["title"])
    return document


def documents_of(*, kb: KnowledgeBase) -> QuerySet[Document]:
    return kb.documents.defer("content").order_by("-created_at", "-id")[:1000]


def chunk_get(*, user, chunk_id: int) -> Chunk | None:
    if not user.is_authenticated:
        return None
    return (
        Chunk.objects.filter(knowledge_base__workspace__memberships__user=user, pk=chunk_id)
        .defer("embedding")
        .first()
    )


def document_add_text(
    *, user, kb: KnowledgeBase, title: str, text: str, file_format: str = "txt", metadata=None
) -> Document:
    return document_add(
        user=user,
        kb=kb,
        content=text.encode("utf-8"),
        file_format=file_format,
        title=title,
        source=title,
        source_kind=SourceKind.TEXT,
        metadata=metadata,
    )


def document_add_url(
    *,
    user,
    kb: KnowledgeBase,
    url: str,
    title: str = "",
    metadata=None,
    address_allowed: AddressPolicy = is_public_address,
) -> Document:
    """Fetch a page through the SSRF-guarded client (public addresses only) and store it."""
    from runs.tools.fetch import fetch

    try:
        response = fetch(
            url,
            timeout=URL_TIMEOUT,
            max_bytes=max_document_bytes(),
            address_allowed=address_allowed,
        )
    except ToolError as exc:
        error = TooLarge if exc.code == "too_large" else Invalid
        raise error(
            f"The page could not be fetched: {exc.message}", code=f"url_{exc.code}"
        ) from exc
    if response.status >= 400:
        raise Invalid(
            f"The page could not be fetched: the site answered HTTP {response.status}.",
            code="url_http_error",
        )
    content_type = response.header("Content-Type") or ""
    path = url.split("?", 1)[0]
    # A server says what it sent; the address's extension only when it says nothing useful.
    file_format = (
        parsing.format_for("", content_type)
        or parsing.format_for(path.rsplit("/", 1)[-1])
        or "html"
    )
    if not title and file_format == "html":
        title = parsing.html_title(response.body)
    return document_add(
        user=user,
        kb=kb,
        content=response.body,
        file_format=file_format,
        title=title or url,
        source=url,
        source_kind=SourceKind.URL,
        metadata=metadata,
    )


def document_delete(*, document: Document) -> None:
    document_id = document.pk
    with transaction.atomic():
        document.delete()
        document.knowledge_base.chunks_changed(document_id=document_id)


def document_reindex(*, document: Document) -> list[int]:
    """Queue a document for ingestion again (after a failure, say)."""
    with transaction.atomic():
        return _requeue(Document.objects.filter(pk=document.pk))


def chunks_of(*, document: Document) -> QuerySet[Chunk]:
    return document.chunks.order_by("position").only(
        "id", "position", "text", "heading", "location", "embedding_model", "document_id"
    )


# ---- the retrieve node's port ----------------------------------------------------------------


def run_retrieve(
    *,
    workspace_id: int | None,
    knowledge_bases: list[str],
    query: str,
    top_k: int = 5,
    min_score: float = 0.0,
    hybrid_weight: float = 0.5,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Search the run's workspace's knowledge bases (by name) for a retrieve node."""
    kbs = list(KnowledgeBase.objects.filter(workspace_id=workspace_id, name__in=knowledge_bases))
    missing = sorted(set(knowledge_bases) - {kb.name for kb in kbs})
    if missing:
        names = ", ".join(f"“{name}”" for name in missing)
        raise NotFound(
            f"No knowledge base called {names} in this workspace.", code="unknown_knowledge_base"
        )
    problems = check_filters(filters)
    if problems:
        raise Invalid("; ".join(problems), code="invalid_filters")
    try:
        result = search(
            kbs,
            query,
            top_k=top_k,
            min_score=min_score,
            hybrid_weight=hybrid_weight,
            filters=filters,
        )
    except LlmError as exc:
        raise Invalid(
            f"The query could not be embedded: {exc.message}", code=f"embedding_{exc.code}"
        ) from exc
    return {
        "chunks": [hit.as_dict() for hit in result.hits],
        "usage": {
            "model": ", ".join(result.embedding_models),
            "tokens": result.tokens,
            "cost": result.cost,
            "calls": result.embedding_calls,
        },
    }

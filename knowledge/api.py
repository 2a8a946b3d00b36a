"""The knowledge API: knowledge bases, documents (text, URL or file upload), chunks, search."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile

from config.domain import Invalid, NotFound
from config.schemas import CleanIn, Id, Name, Offset, StrictIn

from . import services
from .dispatch import kick_ingest
from .models import Document, KnowledgeBase

router = Router(tags=["knowledge"])

Metadata = dict[str, str | int | float | bool]


class KnowledgeBaseIn(StrictIn):
    workspace: Id
    name: Name
    description: str = Field("", max_length=5_000)
    chunk_size: int = Field(800, ge=services.MIN_CHUNK_SIZE, le=services.MAX_CHUNK_SIZE)
    chunk_overlap: int = Field(100, ge=0, le=services.MAX_CHUNK_SIZE // 2)
    embedding_model: str | None = Field(None, max_length=200)


class KnowledgeBasePatch(StrictIn):
    name: Name | None = None
    description: str | None = Field(None, max_length=5_000)
    chunk_size: int | None = Field(None, ge=services.MIN_CHUNK_SIZE, le=services.MAX_CHUNK_SIZE)
    chunk_overlap: int | None = Field(None, ge=0, le=services.MAX_CHUNK_SIZE // 2)
    embedding_model: str | None = Field(None, max_length=200)


class KnowledgeBaseOut(Schema):
    id: int
    workspace: Id
    name: str
    description: str
    chunk_size: int
    chunk_overlap: int
    embedding_model: str
    revision: int
    documents: int
    created_at: datetime


class DocumentIn(StrictIn):
    kind: Literal["text", "url"]
    title: str = Field("", max_length=300)
    text: str | None = Field(None, max_length=6_000_000)
    format: Literal["txt", "md", "html", "csv", "jsonl"] = "txt"
    url: str | None = Field(None, max_length=2048)
    metadata: Metadata = Field(default_factory=dict, max_length=50)


class DocumentOut(Schema):
    id: int
    knowledge_base: int
    title: str
    source_kind: str
    source: str
    format: str
    size_bytes: int
    content_hash: str
    metadata: dict[str, Any]
    status: str
    error_code: str
    error_message: str
    chunks_done: int
    chunks_total: int
    progress: int
    created_at: datetime


class ChunkOut(Schema):
    id: int
    position: int
    text: str
    heading: str
    location: str
    embedding_model: str


class ChunkPage(CleanIn):
    offset: Offset = 0
    limit: int = Field(50, ge=1, le=200)


class SearchIn(StrictIn):
    query: str = Field(..., min_length=1, max_length=10_000)
    top_k: int = Field(5, ge=1, le=50)
    min_score: float = Field(0.0, ge=0, le=1)
    hybrid_weight: float = Field(0.5, ge=0, le=1)
    filters: dict[str, Any] = Field(default_factory=dict, max_length=10)


class HitOut(Schema):
    chunk_id: Id
    document_id: Id
    text: str
    heading: str
    source: str
    title: str
    score: float
    similarity: float | None
    retriever: str
    vector_rank: int | None
    lexical_rank: int | None


class SearchOut(Schema):
    hits: list[HitOut]
    embedding_models: list[str]
    tokens: int


class WorkspaceFilter(CleanIn):
    workspace: Id | None = None


def _kb(kb: KnowledgeBase) -> dict[str, Any]:
    count = getattr(kb, "document_count", None)
    return {
        "id": kb.pk,
        "workspace": kb.workspace_id,
        "name": kb.name,
        "description": kb.description,
        "chunk_size": kb.chunk_size,
        "chunk_overlap": kb.chunk_overlap,
        "embedding_model": kb.embedding_model,
        "revision": kb.revision,
        "documents": count if count is not None else kb.documents.count(),
        "created_at": kb.created_at,
    }


def _document(document: Document) -> dict[str, Any]:
    return {
        "id": document.pk,
        "knowledge_base": document.knowledge_base_id,
        "title": document.title,
        "source_kind": document.source_kind,
        "source": document.source,
        "format": document.file_format,
        "size_bytes": document.size_bytes,
        "content_hash": document.content_hash,
        "metadata": document.metadata,
        "status": document.status,
        "error_code": document.error_code,
        "error_message": document.error_message,
        "chunks_done": document.chunks_done,
        "chunks_total": document.chunks_total,
        "progress": document.progress_percent,
        "created_at": document.created_at,
    }


@router.get("/knowledge-bases", response=list[KnowledgeBaseOut])
def kb_list(request: HttpRequest, filters: Query[WorkspaceFilter]):
    kbs = services.kbs_with_counts(user=request.user, workspace_id=filters.workspace)
    return [_kb(kb) for kb in kbs]


@router.post("/knowledge-bases", response={201: KnowledgeBaseOut})
def kb_create(request: HttpRequest, payload: KnowledgeBaseIn):
    kb = services.kb_create(user=request.user, workspace_id=payload.workspace,
                            **payload.model_dump(exclude={"workspace"}))  # fmt: skip
    return Status(201, _kb(kb))


@router.get("/knowledge-bases/{int:kb_id}", response=KnowledgeBaseOut)
def kb_get(request: HttpRequest, kb_id: Id):
    return _kb(services.kb_get(user=request.user, kb_id=kb_id))


@router.patch("/knowledge-bases/{int:kb_id}", response=KnowledgeBaseOut)
def kb_update(request: HttpRequest, kb_id: Id, payload: KnowledgeBasePatch):
    kb = services.kb_get(user=request.user, kb_id=kb_id, permission="edit")
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    kb, to_ingest = services.kb_update(kb=kb, changes=changes)
    kick_ingest(to_ingest)
    return _kb(kb)


@router.delete("/knowledge-bases/{int:kb_id}", response={204: None})
def kb_delete(request: HttpRequest, kb_id: Id):
    services.kb_delete(kb=services.kb_get(user=request.user, kb_id=kb_id, permission="edit"))
    return Status(204, None)


@router.get("/knowledge-bases/{int:kb_id}/documents", response=list[DocumentOut])
def document_list(request: HttpRequest, kb_id: Id):
    kb = services.kb_get(user=request.user, kb_id=kb_id)
    return [_document(d) for d in services.documents_of(kb=kb)]


@router.post("/knowledge-bases/{int:kb_id}/documents", response={201: DocumentOut})
def document_add(request: HttpRequest, kb_id: Id, payload: DocumentIn):
    """Add text (`kind: text`, with `text` and a `format`) or a web page (`kind: url`)."""
    kb = services.kb_get(user=request.user, kb_id=kb_id, permission="edit")
    if payload.kind == "text":
        if not payload.text:
            raise Invalid("Give the document's text in “text”.", code="missing_text")
        document = services.document_add_text(user=request.user, kb=kb, title=payload.title,
                                              text=payload.text, file_format=payload.format,
                                              metadata=payload.metadata)  # fmt: skip
    else:
        if not payload.url:
            raise Invalid("Give the page's address in “url”.", code="missing_url")
        document = services.document_add_url(user=request.user, kb=kb, url=payload.url,
                                             title=payload.title,
                                             metadata=payload.metadata)  # fmt: skip
    kick_ingest([document.pk])
    return Status(201, _document(document))


@router.post("/knowledge-bases/{int:kb_id}/documents/upload", response={201: DocumentOut})
def document_upload(
    request: HttpRequest, kb_id: Id, file: File[UploadedFile], title: Form[str] = ""
):
    """Upload a txt, md, html, pdf, csv or jsonl file (multipart form field `file`)."""
    kb = services.kb_get(user=request.user, kb_id=kb_id, permission="edit")
    document = services.document_upload_file(user=request.user, kb=kb, upload=file, title=title)
    kick_ingest([document.pk])
    return Status(201, _document(document))


@router.get("/documents/{int:document_id}", response=DocumentOut)
def document_get(request: HttpRequest, document_id: Id):
    return _document(services.document_get(user=request.user, document_id=document_id))


@router.delete("/documents/{int:document_id}", response={204: None})
def document_delete(request: HttpRequest, document_id: Id):
    document = services.document_get(user=request.user, document_id=document_id,
                                     permission="edit")  # fmt: skip
    services.document_delete(document=document)
    return Status(204, None)


@router.post("/documents/{int:document_id}/reindex", response=DocumentOut)
def document_reindex(request: HttpRequest, document_id: Id):
    document = services.document_get(user=request.user, document_id=document_id,
                                     permission="edit")  # fmt: skip
    kick_ingest(services.document_reindex(document=document))
    document.refresh_from_db()
    return _document(document)


@router.get("/documents/{int:document_id}/chunks", response=list[ChunkOut])
def chunk_list(request: HttpRequest, document_id: Id, page: Query[ChunkPage]):
    document = services.document_get(user=request.user, document_id=document_id)
    chunks = services.chunks_of(document=document)[page.offset : page.offset + page.limit]
    return [
        {
            "id": c.pk,
            "position": c.position,
            "text": c.text,
            "heading": c.heading,
            "location": c.location,
            "embedding_model": c.embedding_model,
        }
        for c in chunks
    ]


@router.get("/chunks/{int:chunk_id}", response=ChunkOut)
def chunk_get(request: HttpRequest, chunk_id: Id):
    chunk = services.chunk_get(user=request.user, chunk_id=chunk_id)
    if chunk is None:
        raise NotFound("Chunk not found")
    return {
        "id": chunk.pk,
        "position": chunk.position,
        "text": chunk.text,
        "heading": chunk.heading,
        "location": chunk.location,
        "embedding_model": chunk.embedding_model,
    }


@router.post("/knowledge-bases/{int:kb_id}/search", response=SearchOut)
def kb_search(request: HttpRequest, kb_id: Id, payload: SearchIn):
    kb = services.kb_get(user=request.user, kb_id=kb_id)
    result = services.kb_search(kb=kb, **payload.model_dump())
    return {
        "hits": [hit.as_dict() for hit in result.hits],
        "embedding_models": result.embedding_models,
        "tokens": result.tokens,
    }

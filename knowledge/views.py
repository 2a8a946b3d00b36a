"""The knowledge pages: bases of a workspace, one base's documents, a document's chunks, and a
"try a query" box. Thin: parse the form, call a service, render (htmx gets the fragment)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from builder.views import _current_membership
from config.domain import DomainError, Invalid, NotFound
from config.errors import http_status
from workspaces.services import membership_for

from . import parsing, services
from .dispatch import kick_ingest
from .models import DocumentStatus

ACTIVE = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)
RETRIEVER_LABELS = {"both": "meaning + words", "vector": "meaning", "lexical": "words"}


def _kb_or_404(request: HttpRequest, kb_id: int, permission: str = "read"):
    try:
        return services.kb_get(user=request.user, kb_id=kb_id, permission=permission)
    except NotFound as exc:
        raise Http404("Knowledge base not found") from exc


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return -1  # the service refuses it with the reason


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return -1.0


@login_required
@require_http_methods(["GET", "POST"])
def kb_list(request: HttpRequest) -> HttpResponse:
    memberships, current = _current_membership(request)
    error, status, form = "", 200, {}
    if request.method == "POST" and current is not None:
        fields = ("name", "description", "size", "overlap")
        form = {k: request.POST.get(k, "").strip() for k in fields}
        try:
            if not form["name"]:
                raise Invalid("Give the knowledge base a name.")
            kb = services.kb_create(
                user=request.user,
                workspace_id=current.workspace_id,
                name=form["name"][:120],
                description=form["description"][:5000],
                chunk_size=_int(form["size"], 800),
                chunk_overlap=_int(form["overlap"], 100),
            )
            return redirect("knowledge:kb_detail", kb_id=kb.pk)
        except DomainError as exc:
            error, status = str(exc.detail), http_status(exc)
    kbs = (
        services.kbs_with_counts(user=request.user, workspace_id=current.workspace_id)
        if current
        else []
    )
    context = {
        "nav": "knowledge",
        "memberships": memberships,
        "current": current,
        "kbs": kbs,
        "can_edit": bool(current and current.can("edit")),
        "error": error,
        "form": form,
    }
    return render(request, "knowledge/kb_list.html", context, status=status)


def _detail_context(request: HttpRequest, kb, **extra) -> dict:
    membership = membership_for(user=request.user, workspace_id=kb.workspace_id)
    documents = list(services.documents_of(kb=kb))
    return {
        "nav": "knowledge",
        "kb": kb,
        "documents": documents,
        "polling": any(d.status in ACTIVE for d in documents),
        "can_edit": bool(membership and membership.can("edit")),
        "accept": ",".join(f".{ext}" for ext in parsing.EXTENSIONS),
        "formats": ", ".join(parsing.FORMATS),
        "max_mb": services.max_document_bytes() // 1_000_000,
        **extra,
    }


@login_required
def kb_detail(request: HttpRequest, kb_id: int) -> HttpResponse:
    kb = _kb_or_404(request, kb_id)
    return render(request, "knowledge/kb_detail.html", _detail_context(request, kb))


@login_required
def kb_documents(request: HttpRequest, kb_id: int) -> HttpResponse:
    """The documents table (htmx polls it while a document is being ingested)."""
    kb = _kb_or_404(request, kb_id)
    return render(request, "knowledge/_documents.html", _detail_context(request, kb))


@login_required
@require_POST
def kb_add(request: HttpRequest, kb_id: int) -> HttpResponse:
    """Upload a file or paste text; back to the base's page, or the page with the reason."""
    kb = _kb_or_404(request, kb_id)
    try:
        kb = services.kb_get(user=request.user, kb_id=kb_id, permission="edit")
        upload = request.FILES.get("file")
        if upload is not None:
            document = services.document_upload_file(user=request.user, kb=kb, upload=upload)
        elif request.POST.get("text", "").strip():
            document = services.document_add_text(
                user=request.user,
                kb=kb,
                title=request.POST.get("title", "").strip()[:300] or "Pasted text",
                text=request.POST["text"],
                file_format="md" if request.POST.get("format") == "md" else "txt",
            )
        else:
            raise Invalid("Choose a file to upload, or paste some text.")
    except DomainError as exc:
        context = _detail_context(request, kb, add_error=str(exc.detail))
        return render(request, "knowledge/kb_detail.html", context, status=http_status(exc))
    kick_ingest([document.pk])
    return redirect("knowledge:kb_detail", kb_id=kb.pk)


@login_required
@require_POST
def document_action(request: HttpRequest, document_id: int, action: str) -> HttpResponse:
    try:
        document = services.document_get(
            user=request.user, document_id=document_id, permission="edit"
        )
    except NotFound as exc:
        raise Http404("Document not found") from exc
    except DomainError as exc:
        return HttpResponse(str(exc.detail), status=http_status(exc))
    kb = document.knowledge_base
    if action == "delete":
        services.document_delete(document=document)
    elif action == "reindex":
        kick_ingest(services.document_reindex(document=document))
    else:
        raise Http404("Unknown action")
    if request.htmx:
        return render(request, "knowledge/_documents.html", _detail_context(request, kb))
    return redirect("knowledge:kb_detail", kb_id=kb.pk)


@login_required
@require_POST
def kb_try(request: HttpRequest, kb_id: int) -> HttpResponse:
    """Search the base and show the ranked chunks with their scores and retrievers."""
    kb = _kb_or_404(request, kb_id)
    query = request.POST.get("query", "").strip()[:2000]
    context: dict = {"kb": kb, "query": query}
    if query:
        try:
            result = services.kb_search(
                kb=kb,
                query=query,
                top_k=max(1, min(_int(request.POST.get("top_k"), 5), 20)),
                hybrid_weight=max(0.0, min(_float(request.POST.get("weight"), 0.5), 1.0)),
            )
            context["hits"] = [
                {**hit.as_dict(), "found_by": RETRIEVER_LABELS[hit.retriever]}
                for hit in result.hits
            ]
        except DomainError as exc:
            context["error"] = str(exc.detail)
    return render(request, "knowledge/_results.html", context)


@login_required
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    """The chunk browser: a document's chunks in order, 50 a page."""
    try:
        document = services.document_get(user=request.user, document_id=document_id)
    except NotFound as exc:
        raise Http404("Document not found") from exc
    page = Paginator(services.chunks_of(document=document), 50).get_page(request.GET.get("page"))
    context = {"nav": "knowledge", "document": document, "kb": document.knowledge_base,
               "page": page}  # fmt: skip
    return render(request, "knowledge/document_detail.html", context)

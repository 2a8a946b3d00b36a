"""The chat page of a published flow: a person's conversations with it, each message a run.

Thin: parse the form, call a service, render; htmx gets the fragment it swaps (a new turn, a
turn whose run finished), a plain form post gets a redirect back to the conversation.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from builder.services import flow_get
from config.domain import DomainError, NotFound
from config.errors import http_status
from runs import dispatch
from workspaces.services import membership_for

from . import selectors, services
from .models import Conversation

MAX_POSITION = 2**31 - 1


def _flow_or_404(request: HttpRequest, flow_id: int):
    try:
        return flow_get(user=request.user, flow_id=flow_id)
    except NotFound as exc:
        raise Http404("Flow not found") from exc


def _conversation_or_404(request: HttpRequest, flow, conversation_id: int) -> Conversation:
    try:
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)
    except NotFound as exc:
        raise Http404("Conversation not found") from exc
    if conversation.flow_id != flow.pk:
        raise Http404("Conversation not found")
    return conversation


def _page(
    request: HttpRequest,
    flow,
    conversation: Conversation | None,
    *,
    error: str = "",
    draft: str = "",
    status: int = 200,
) -> HttpResponse:
    membership = membership_for(user=request.user, workspace_id=flow.workspace_id)
    problem = services.chat_problem(flow)
    turns = selectors.turns_shown(conversation) if conversation else []
    context = {
        "nav": "flows",
        "flow": flow,
        "version": flow.published_version,
        "conversation": conversation,
        "conversations": list(selectors.conversations_of(user=request.user, flow=flow)),
        "turns": turns,
        "earlier_hidden": bool(turns) and turns[0]["position"] > 1,
        "can_chat": bool(membership and membership.can("run")),
        "can_edit": bool(membership and membership.can("edit")),
        "role": membership.get_role_display() if membership else "",
        "problem": problem,
        "error": error,
        "draft": draft,
        "max_message": services.MAX_MESSAGE,
    }
    return render(request, "conversations/chat.html", context, status=status)


@login_required
def chat(request: HttpRequest, flow_id: int) -> HttpResponse:
    """The chat page; it opens the most recent conversation, or a new one when there is none."""
    flow = _flow_or_404(request, flow_id)
    if request.GET.get("new") is None:
        latest = selectors.conversations_of(user=request.user, flow=flow).first()
        if latest is not None:
            return redirect(
                "conversations:conversation", flow_id=flow.pk, conversation_id=latest.pk
            )
    return _page(request, flow, None)


@login_required
def conversation(request: HttpRequest, flow_id: int, conversation_id: int) -> HttpResponse:
    flow = _flow_or_404(request, flow_id)
    return _page(request, flow, _conversation_or_404(request, flow, conversation_id))


@login_required
@require_POST
def send(request: HttpRequest, flow_id: int, conversation_id: int | None = None) -> HttpResponse:
    """Send a message: a new conversation when none is given; the run starts on commit."""
    flow = _flow_or_404(request, flow_id)
    current = _conversation_or_404(request, flow, conversation_id) if conversation_id else None
    text = request.POST.get("message", "")
    try:
        with transaction.atomic():
            conversation = current or services.conversation_start(
                user=request.user, flow_id=flow.pk
            )
            turn = services.message_send(
                user=request.user, conversation=conversation, text=text, published_only=True
            )
            transaction.on_commit(lambda: dispatch.kick(turn.run_id))
    except DomainError as exc:
        if request.htmx:
            return render(
                request,
                "conversations/_send_error.html",
                {"error": str(exc.detail)},
                status=http_status(exc),
            )
        return _page(request, flow, current, error=str(exc.detail), draft=text[:20_000],
                     status=http_status(exc))  # fmt: skip
    url = reverse(
        "conversations:conversation",
        kwargs={"flow_id": flow.pk, "conversation_id": conversation.pk},
    )
    if request.htmx and current is not None:
        context = {"flow": flow, "conversation": conversation, "turn": selectors.turn_shown(turn)}
        return render(request, "conversations/_turn.html", context, status=201)
    if request.htmx:
        response = HttpResponse(status=201)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@login_required
def turn(request: HttpRequest, flow_id: int, conversation_id: int, position: int) -> HttpResponse:
    """One turn (the page refetches it when its run finishes or waits)."""
    flow = _flow_or_404(request, flow_id)
    conversation = _conversation_or_404(request, flow, conversation_id)
    if position > MAX_POSITION:
        raise Http404("Message not found")
    try:
        shown = selectors.turn_shown(
            selectors.turn_get(conversation=conversation, position=position)
        )
    except NotFound as exc:
        raise Http404("Message not found") from exc
    context = {"flow": flow, "conversation": conversation, "turn": shown}
    return render(request, "conversations/_turn.html", context)


@login_required
@require_POST
def rename(request: HttpRequest, flow_id: int, conversation_id: int) -> HttpResponse:
    flow = _flow_or_404(request, flow_id)
    conversation = _conversation_or_404(request, flow, conversation_id)
    try:
        services.conversation_rename(
            conversation=conversation, title=request.POST.get("title", "")[:1000]
        )
    except DomainError as exc:
        return _page(request, flow, conversation, error=str(exc.detail), status=http_status(exc))
    return redirect("conversations:conversation", flow_id=flow.pk, conversation_id=conversation.pk)


@login_required
@require_POST
def delete(request: HttpRequest, flow_id: int, conversation_id: int) -> HttpResponse:
    """Delete the conversation and its memory (turns and their vectors); its runs stay."""
    flow = _flow_or_404(request, flow_id)
    services.conversation_delete(conversation=_conversation_or_404(request, flow, conversation_id))
    return redirect(reverse("conversations:chat", kwargs={"flow_id": flow.pk}) + "?new")

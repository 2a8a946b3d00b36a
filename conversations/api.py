"""Conversations over the API: start one with a flow, send messages (a run each), read, delete."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Status

from config.schemas import Id, StrictIn
from runs import dispatch

from . import selectors, services

TURN_FIELDS = (
    "position",
    "message",
    "run_id",
    "status",
    "finished",
    "last_seq",
    "answer",
    "error",
    "approval_id",
    "sources",
    "memory",
)

router = Router(tags=["conversations"])


class ConversationIn(StrictIn):
    embedding_model: str | None = Field(None, max_length=200)


class MessageIn(StrictIn):
    text: str = Field(..., min_length=1, max_length=services.MAX_MESSAGE)
    draft: bool = Field(False, description="Run the flow's current draft (needs the edit right)")


@router.post("/flows/{int:flow_id}/conversations", response={201: dict})
def conversation_create(request: HttpRequest, flow_id: Id, payload: ConversationIn | None = None):
    """Start a conversation with a flow; each message then starts a run of it."""
    conversation = services.conversation_start(
        user=request.user,
        flow_id=flow_id,
        embedding_model=payload.embedding_model if payload else None,
    )
    return Status(201, services.conversation_view(conversation))


@router.post("/conversations/{int:conversation_id}/messages", response={202: dict})
def message_create(request: HttpRequest, conversation_id: Id, payload: MessageIn):
    """Send a message: a run of the flow with `inputs.message`, linked to the conversation."""
    conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)
    turn = services.message_send(
        user=request.user, conversation=conversation, text=payload.text, use_draft=payload.draft
    )
    transaction.on_commit(lambda: dispatch.kick(turn.run_id))
    return Status(202, {"turn": turn.position, "run": turn.run_id})


@router.get("/conversations/{int:conversation_id}", response=dict)
def conversation_read(request: HttpRequest, conversation_id: Id):
    conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)
    return services.conversation_view(conversation)


@router.get("/conversations/{int:conversation_id}/turns/{int:position}", response=dict)
def turn_read(request: HttpRequest, conversation_id: Id, position: Id):
    """One message as the chat shows it: its answer (or why there is none), the sources its
    Retrieve steps found and the earlier messages its Memory step used."""
    conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)
    shown = selectors.turn_shown(selectors.turn_get(conversation=conversation, position=position))
    return {key: shown[key] for key in TURN_FIELDS}


@router.delete("/conversations/{int:conversation_id}", response={204: None})
def conversation_remove(request: HttpRequest, conversation_id: Id):
    conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)
    services.conversation_delete(conversation=conversation)
    return Status(204, None)

"""Conversations with a flow, and their memory: the turns most relevant to a new message."""

from __future__ import annotations

import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from builder.services import flow_get
from config.domain import Conflict, Invalid, NotFound
from knowledge.embeddings import from_bytes, to_bytes
from knowledge.services import check_embedding_model
from runs.llm.embeddings import embed
from runs.llm.response import LlmError
from runs.models import Run
from runs.services import run_start
from runs.services.starting import inputs_errors

from . import tokens
from .models import Conversation, Turn

logger = logging.getLogger(__name__)
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchboard-memory")
MAX_MESSAGE = 20_000
# A fold reads at most this many tokens of new turns (a long history is folded over a few turns).
MAX_FOLD_TOKENS = 6_000
# Turns a recall writes itself when their run finished but the pool has not written them yet.
MAX_UNWRITTEN = 5
# What the summary's label ("Summary of the earlier conversation:") and line break cost.
SUMMARY_LABEL_TOKENS = 10


def conversation_start(*, user, flow_id: int, embedding_model: str | None = None) -> Conversation:
    flow = flow_get(user=user, flow_id=flow_id, permission="run")
    model = check_embedding_model(embedding_model or settings.SWITCHBOARD_EMBEDDING_MODEL)
    return Conversation.objects.create(
        workspace_id=flow.workspace_id, flow=flow, owner=user, embedding_model=model
    )


def conversation_get(*, user, conversation_id: int) -> Conversation:
    """The user's own conversation in a workspace they still belong to; 404 otherwise."""
    conversation = (
        Conversation.objects.select_related("flow__workspace")
        .filter(
            pk=conversation_id,
            owner=user,
            workspace__memberships__user=user,
        )
        .first()
    )
    if conversation is None:
        raise NotFound("Conversation not found")
    return conversation


def message_send(
    *,
    user,
    conversation: Conversation,
    text: str,
    published_only: bool = False,
    use_draft: bool = False,
) -> Turn:
    """Start a run for the message, with the conversation attached (a Turn points at it).

    `published_only` (the chat page): refuse a flow with no published version rather than run
    its draft. `use_draft` (the editor's Test run tab): run the current draft, which needs the
    right to edit the flow and an Input node that takes a message."""
    text = (text or "").strip()
    if not text:
        raise Invalid("The message is empty.", code="empty_message")
    if len(text) > MAX_MESSAGE:
        raise Invalid(f"Messages are limited to {MAX_MESSAGE} characters.", code="too_long")
    flow = flow_get(
        user=user, flow_id=conversation.flow_id, permission="edit" if use_draft else "run"
    )
    if use_draft:
        problem = draft_chat_problem(flow)
        if problem is not None:
            raise Conflict(problem["detail"], code=problem["code"])
    if published_only:
        problem = chat_problem(flow)
        if problem is not None:
            raise Conflict(problem["detail"], code=problem["code"])
    with transaction.atomic():
        # One message at a time per conversation: two at once would take the same position.
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        last = conversation.turns.aggregate(last=Max("position"))["last"] or 0
        run = run_start(user=user, flow=flow, inputs={"message": text}, use_draft=use_draft)
        return Turn.objects.create(
            conversation=conversation, position=last + 1, run=run, message=text
        )


def chat_problem(flow) -> dict[str, str] | None:
    """Why the chat page cannot chat with this flow ({code, detail}), or None when it can."""
    version = flow.published_version
    if version is None:
        return {
            "code": "not_published",
            "detail": "This flow has no published version yet. Publish it in the editor to "
            "chat with it.",
        }
    if inputs_errors(version.graph, {"message": "Hello"}):
        return {
            "code": "no_message_input",
            "detail": "The published version's input form does not take a chat message. Give "
            'its Input node a text field named "message" (and nothing else required), then '
            "publish again.",
        }
    return None


def draft_chat_problem(flow) -> dict[str, str] | None:
    """Why the editor cannot chat with this flow's draft ({code, detail}), or None."""
    if inputs_errors(flow.graph, {"message": "Hello"}):
        return {
            "code": "no_message_input",
            "detail": "The draft's input form does not take a chat message. Give its Input node "
            'a text field named "message" (and nothing else required) to chat with it here.',
        }
    return None


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    title = " ".join((title or "").split())
    if len(title) > 120:
        raise Invalid("A conversation's name is at most 120 characters.", code="too_long")
    conversation.title = title
    conversation.save(update_fields=["title"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()  # turns and their vectors go with it; runs stay in the history


def answer_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, dict) and len(result) == 1:
        return answer_text(next(iter(result.values())))
    if result is None:
        return ""
    return json.dumps(result, ensure_ascii=False)


def turn_text(turn: Turn) -> str:
    return f"User: {turn.message}\nAssistant: {turn.answer}"


# ---- writing a finished turn ------------------------------------------------------------------


def events_committed(events: list[dict[str, Any]], workspace_id: int | None) -> None:
    finished = [e["run_id"] for e in events if e.get("kind") == "run.succeeded"]
    if not finished:
        return
    if getattr(settings, "SWITCHBOARD_MEMORY_INLINE", False):
        for run_id in finished:
            turn_write(run_id=run_id)
    else:
        for run_id in finished:
            _pool.submit(_write_on_pool, run_id)


def _write_on_pool(run_id: int) -> None:
    try:
        if _turn_unwritten(run_id):
            turn_write(run_id=run_id)
    except Exception:
        logger.exception("The turn of run %s could not be written to memory", run_id)
        connection.close()
    finally:
        # This one thread's SQLite connection stays open for the next run (reopening it was
        # most of this job's cost); a PostgreSQL connection goes back to the pool.
        if connection.vendor != "sqlite":
            connection.close()


_TURN_UNWRITTEN = f"SELECT 1 FROM {Turn._meta.db_table} WHERE run_id = %s AND vector IS NULL"  # noqa: S608


def _turn_unwritten(run_id: int) -> bool:
    """Whether the run is a conversation's turn still to write: one probe of the unique index,
    without building a query, because most finished runs (every API run) are no turn at all."""
    with connection.cursor() as cursor:
        cursor.execute(_TURN_UNWRITTEN, [run_id])
        return cursor.fetchone() is not None


def turn_write(*, run_id: int) -> Turn | None:
    """Store the run's answer on its turn and embed the turn (once)."""
    turn = Turn.objects.select_related("conversation", "run").filter(run_id=run_id).first()
    if turn is None or turn.vector is not None:
        return None
    turn.answer = answer_text(turn.run.result)
    text = turn_text(turn)
    turn.tokens = tokens.count(text)
    vectors = embed([text], model=turn.conversation.embedding_model).vectors
    turn.vector = to_bytes(vectors[0])
    turn.save(update_fields=["answer", "tokens", "vector"])
    return turn


# ---- recalling ----------------------------------------------------------------------------------


def memory_recall(
    *,
    run_id: int | None,
    query: str,
    token_budget: int,
    recency_weight: float = 0.2,
    half_life: int = 10,
    summary_tokens: int = 0,
) -> dict[str, Any]:
    """The past turns of the run's conversation most relevant to `query` (cosine similarity
    plus a recency bonus), best first, while they fit in `token_budget` cl100k tokens; returned
    in conversation order.

    With `summary_tokens`, once the history outgrows the budget that much of it is kept for the
    conversation's rolling summary: the answer carries the summary kept so far and the turns
    the caller should fold into it now (`fold`, oldest first, none already in it)."""
    current = Turn.objects.select_related("conversation").filter(run_id=run_id).first()
    if run_id is None or current is None:
        raise NotFound("This run is not part of a conversation.", code="no_conversation")
    conversation = current.conversation
    # A turn whose run has just finished may not be written yet (that happens after commit, on
    # a pool): write it now, so a quick next message still remembers it.
    unwritten = Turn.objects.filter(
        conversation=conversation,
        position__lt=current.position,
        vector__isnull=True,
        run__status="succeeded",
    ).values_list("run_id", flat=True)
    for unwritten_run in list(unwritten[:MAX_UNWRITTEN]):
        try:
            turn_write(run_id=unwritten_run)
        except LlmError:
            logger.warning("Turn of run %s not embedded yet; recalled without it", unwritten_run)
    past = list(
        Turn.objects.filter(
            conversation=conversation, position__lt=current.position, vector__isnull=False
        ).order_by("position")
    )
    usage = {"model": conversation.embedding_model, "tokens": 0, "cost": 0.0, "calls": 0}
    summary = (
        {
            "text": conversation.summary,
            "upto": conversation.summary_upto,
            "tokens": conversation.summary_tokens + SUMMARY_LABEL_TOKENS,
        }
        if conversation.summary and summary_tokens > 0
        else None
    )
    if not past:
        return {"turns": [], "usage": usage, "considered": 0, "summary": summary, "fold": []}
    budget, fold = summary_plan(
        past,
        upto=conversation.summary_upto if summary else 0,
        summarized=summary is not None,
        token_budget=token_budget,
        summary_tokens=summary_tokens,
    )
    try:
        embedded = embed([query], model=conversation.embedding_model)
    except LlmError as exc:
        raise Invalid(
            f"The message could not be embedded: {exc.message}", code=f"embedding_{exc.code}"
        ) from exc
    usage.update(tokens=embedded.tokens, cost=embedded.cost, calls=embedded.calls)
    matrix = np.stack([from_bytes(t.vector) for t in past])
    similarity = matrix @ embedded.vectors[0]
    chosen = select_turns(
        past,
        similarity,
        newest=current.position,
        token_budget=budget,
        recency_weight=recency_weight,
        half_life=half_life,
    )
    return {
        "turns": [
            {
                "turn": turn.position,
                "user": turn.message,
                "assistant": turn.answer,
                "tokens": turn.tokens,
                "score": round(score, 4),
                "similarity": round(sim, 4),
            }
            for score, sim, turn in chosen
        ],
        "considered": len(past),
        "usage": usage,
        "summary": summary,
        "fold": [{"turn": t.position, "user": t.message, "assistant": t.answer} for t in fold],
    }


def summary_plan(
    past: list[Any],
    *,
    upto: int,
    summarized: bool,
    token_budget: int,
    summary_tokens: int,
) -> tuple[int, list[Any]]:
    """The tokens left for verbatim turns, and the turns (with .position and .tokens) to fold
    into the summary now.

    No summary is needed while the whole history fits the budget. Past that, `summary_tokens`
    of the budget are the summary's; when the turns the summary does not cover outgrow the
    rest, the oldest of them are folded in until the others fill half of it (so a fold happens
    every few turns, not every turn), reading at most MAX_FOLD_TOKENS at a time."""
    if summary_tokens <= 0:
        return token_budget, []
    if not summarized and sum(t.tokens for t in past) <= token_budget:
        return token_budget, []
    window = max(token_budget - summary_tokens, 0)
    tail = [t for t in past if t.position > upto]
    left = sum(t.tokens for t in tail)
    fold: list[Any] = []
    if left > window:
        read = 0
        for turn in tail:
            if left <= window // 2 or (fold and read + turn.tokens > MAX_FOLD_TOKENS):
                break
            fold.append(turn)
            left -= turn.tokens
            read += turn.tokens
    return window, fold


def summary_save(*, run_id: int | None, text: str, upto: int, max_tokens: int) -> dict[str, Any]:
    """Keep the rolling summary of the run's conversation, cut to `max_tokens` (less the label
    it is shown with); a fold that went further meanwhile wins."""
    current = Turn.objects.filter(run_id=run_id).first() if run_id is not None else None
    if current is None or not 0 < upto < current.position:
        raise NotFound("This run is not part of a conversation.", code="no_conversation")
    text = tokens.truncate(text.strip(), max(max_tokens - SUMMARY_LABEL_TOKENS, 1))
    count = tokens.count(text)
    Conversation.objects.filter(pk=current.conversation_id, summary_upto__lt=upto).update(
        summary=text, summary_upto=upto, summary_tokens=count
    )
    return {"text": text, "upto": upto, "tokens": count + SUMMARY_LABEL_TOKENS}


def select_turns(
    past: list[Any],
    similarity: Any,
    *,
    newest: int,
    token_budget: int,
    recency_weight: float = 0.2,
    half_life: int = 10,
) -> list[tuple[float, float, Any]]:
    """Rank turns (with .position and .tokens) by similarity plus a recency bonus and keep the
    best that fit the budget, in conversation order: (score, similarity, turn)."""
    scored = []
    for turn, sim in zip(past, similarity, strict=True):
        recency = math.exp(-(newest - turn.position - 1) / max(half_life, 1))
        scored.append((float(sim) + recency_weight * recency, float(sim), turn))
    scored.sort(key=lambda item: -item[0])
    chosen, used = [], 0
    for item in scored:
        if used + item[2].tokens > token_budget:
            continue
        used += item[2].tokens
        chosen.append(item)
    chosen.sort(key=lambda item: item[2].position)
    return chosen


def conversation_view(conversation: Conversation) -> dict[str, Any]:
    turns = list(conversation.turns.select_related("run").order_by("position"))
    return {
        "id": conversation.pk,
        "flow": conversation.flow_id,
        "workspace": conversation.workspace_id,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "summary": {"text": conversation.summary, "upto": conversation.summary_upto},
        "turns": [
            {
                "position": t.position,
                "message": t.message,
                "run": t.run_id,
                "status": t.run.status if t.run else "deleted",
                "answer": answer_text(t.run.result)
                if t.run and t.run.status == "succeeded"
                else "",
            }
            for t in turns
        ],
    }


def run_ids(conversation: Conversation) -> list[int]:
    return list(Run.objects.filter(turn__conversation=conversation).values_list("pk", flat=True))

"""The LLM judge of evaluation items: a model call like a step's, checked against the spend
budgets before it goes out and recorded in them (and on the cost page) after.

Each judge question about an item is claimed in the database before the model is asked (a
`JudgeClaim` row, unique per item and question): a second driver scoring the same item (the
first one looked dead, but is still waiting on the judge) finds the claim and leaves the item
to its holder instead of paying for the same call again. A claim older than the longest a call
may take is the holder's crash: it is taken over (by one driver: a conditional update). The
reply is kept on the claim, so whoever scores the item after a crash reuses it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from costs.services import BudgetExceeded, SpendGuard, spend_record

from .models import Evaluation, EvaluationItem, JudgeCall, JudgeClaim
from .scorers import JudgeBusy, JudgeRefused

JUDGE_MAX_TOKENS = 300
JUDGE_TIMEOUT_SECONDS = 60.0
JUDGE_RETRIES = 2


def claim_lease() -> timedelta:
    """How long a claim holds: the longest a judge call may take (every retry timing out)."""
    return timedelta(seconds=JUDGE_TIMEOUT_SECONDS * (JUDGE_RETRIES + 1) + 30)


@dataclass
class StoredReply:
    """A judge's reply as its claim kept it (what the scorer reads of a model reply)."""

    content: str
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0


def question_key(model: str, messages: list[dict[str, Any]]) -> str:
    encoded = json.dumps([model, messages], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def judge_claim(*, item_id: int, key: str) -> tuple[str, StoredReply | None]:
    """Claim one judge question about an item: (this driver's token, None) when it must ask
    the model, ("", the reply) when the judge already answered; JudgeBusy while another driver
    holds it."""
    token = uuid.uuid4().hex
    now = timezone.now()
    try:
        with transaction.atomic():
            JudgeClaim.objects.create(item_id=item_id, key=key, holder=token, claimed_at=now)
        return token, None
    except IntegrityError:
        pass
    held = JudgeClaim.objects.filter(item_id=item_id, key=key).first()
    if held is None:  # released meanwhile (its call failed): the next pass claims it again
        raise JudgeBusy("The judge's claim on this item changed hands.")
    if held.reply is not None:
        return "", StoredReply(**held.reply)
    if held.claimed_at > now - claim_lease():
        raise JudgeBusy("Another driver is asking the judge about this item.")
    taken = JudgeClaim.objects.filter(
        pk=held.pk, holder=held.holder, claimed_at=held.claimed_at, reply__isnull=True
    ).update(holder=token, claimed_at=now)
    if not taken:
        raise JudgeBusy("Another driver took this item's judge call over.")
    return token, None


class EvaluationJudge:
    """The LLM judge of one item: asked through the model client (the server's default model
    when the scorer names none), checked against the flow's and workspace's spend budgets
    before the call, its spend recorded in them and on the cost page after. Each question is
    claimed first (see the module), so it is paid for once."""

    def __init__(self, evaluation: Evaluation, item: EvaluationItem | None = None) -> None:
        self.evaluation = evaluation
        self.item = item

    def __call__(self, model: str, messages: list[dict[str, Any]]) -> Any:
        from runs.services.starting import default_model

        model = model or default_model()
        if self.item is None:
            return self._ask(model, messages, None)
        key = question_key(model, messages)
        token, stored = judge_claim(item_id=self.item.pk, key=key)
        if stored is not None:
            return stored
        try:
            return self._ask(model, messages, (key, token))
        except BaseException:
            JudgeClaim.objects.filter(
                item_id=self.item.pk, key=key, holder=token, reply__isnull=True
            ).delete()
            raise

    def _ask(self, model: str, messages: list[dict[str, Any]], claim: tuple[str, str] | None):
        from runs.services.ports import llm_client
        from runs.services.starting import default_model

        evaluation = self.evaluation
        guard = SpendGuard(
            llm_client(),
            workspace_id=evaluation.workspace_id,
            flow_id=evaluation.flow_id,
            default_model=default_model(),
        )
        try:
            reply = guard.chat(
                model=model,
                messages=messages,
                temperature=0,
                max_tokens=JUDGE_MAX_TOKENS,
                timeout=JUDGE_TIMEOUT_SECONDS,
                retries=JUDGE_RETRIES,
                response_format={"type": "json_object"},
            )
        except BudgetExceeded as exc:
            raise JudgeRefused(f"Judging stopped: {exc.message}", code=exc.code) from exc
        self._record(reply, claim)
        return reply

    def _record(self, reply: Any, claim: tuple[str, str] | None) -> None:
        cost = Decimal(str(round(float(reply.cost or 0), 6)))
        now = timezone.now()
        with transaction.atomic():
            JudgeCall.objects.create(
                evaluation_id=self.evaluation.pk,
                item=self.item,
                workspace_id=self.evaluation.workspace_id,
                flow_id=self.evaluation.flow_id,
                model=str(reply.model or "")[:200],
                tokens_in=int(reply.tokens_in or 0),
                tokens_out=int(reply.tokens_out or 0),
                cost=cost,
                created_at=now,
            )
            spend_record(
                workspace_id=self.evaluation.workspace_id,
                flow_id=self.evaluation.flow_id,
                cost=cost,
                saved=Decimal(0),
                calls=1,
                day=timezone.localdate(now),
            )
            if claim is not None and self.item is not None:
                key, token = claim
                JudgeClaim.objects.filter(item_id=self.item.pk, key=key, holder=token).update(
                    reply={
                        "content": str(reply.content or ""),
                        "model": str(reply.model or ""),
                        "tokens_in": int(reply.tokens_in or 0),
                        "tokens_out": int(reply.tokens_out or 0),
                        "cost": float(reply.cost or 0),
                    }
                )

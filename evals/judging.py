"""The LLM judge of evaluation items: a model call like a step's, checked against the spend
budgets before it goes out and recorded in them (and on the cost page) after."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from costs.services import BudgetExceeded, SpendGuard, spend_record

from .models import Evaluation, EvaluationItem, JudgeCall
from .scorers import JudgeRefused

JUDGE_MAX_TOKENS = 300


class EvaluationJudge:
    """The LLM judge of one item: asked through the model client (the server's default model
    when the scorer names none), checked against the flow's and workspace's spend budgets
    before the call, its spend recorded in them and on the cost page after."""

    def __init__(self, evaluation: Evaluation, item: EvaluationItem | None = None) -> None:
        self.evaluation = evaluation
        self.item = item

    def __call__(self, model: str, messages: list[dict[str, Any]]) -> Any:
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
                model=model or default_model(),
                messages=messages,
                temperature=0,
                max_tokens=JUDGE_MAX_TOKENS,
                retries=2,
                response_format={"type": "json_object"},
            )
        except BudgetExceeded as exc:
            raise JudgeRefused(f"Judging stopped: {exc.message}", code=exc.code) from exc
        self._record(reply)
        return reply

    def _record(self, reply: Any) -> None:
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

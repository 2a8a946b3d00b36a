"""Fitting a workspace's learned router on its labels, and counting the labels that arrive."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.domain import Invalid
from evals.models import EvaluationItem, RouterModel
from runs.engine.learned_routing import Example, accuracy, fit
from runs.llm.response import LlmError
from runs.models import Step, StepStatus

from .labels import router_labels
from .loading import forget_router

logger = logging.getLogger(__name__)

#: Labels a workspace needs before a router is fitted.
MIN_LABELS = 20


def embedding_model() -> str:
    return getattr(settings, "SWITCHBOARD_ROUTER_EMBEDDING_MODEL", "") or (
        settings.SWITCHBOARD_EMBEDDING_MODEL
    )


def min_labels() -> int:
    return int(getattr(settings, "SWITCHBOARD_ROUTER_MIN_LABELS", MIN_LABELS))


def _embed(texts: list[str], model: str) -> list[Any] | None:
    from knowledge.embeddings import embed_cached

    try:
        return list(embed_cached(texts, model=model).vectors)
    except LlmError as exc:
        logger.warning("The router trains without embeddings: %s", exc.message)
        return None


def router_train(*, workspace_id: int) -> RouterModel:
    """Fit the workspace's router on its labels and store it; Invalid when there are too few.

    Every fifth label is held out first: the router is used for routing only when it predicts
    those at least as well as the baseline; then it is refitted on every label."""
    labels = router_labels(workspace_id=workspace_id)
    needed = min_labels()
    if len(labels) < needed:
        raise Invalid(
            f"The workspace has {len(labels)} labelled answers; the router needs {needed} "
            "(evaluator verdicts, approvals or evaluation results on prompt steps).",
            code="too_few_labels",
        )
    model = embedding_model()
    vectors = _embed([label.request.text for label in labels], model)
    examples = [
        Example(label.request, label.tier, label.passed, vectors[i] if vectors else None)
        for i, label in enumerate(labels)
    ]
    used = model if vectors else ""
    held_out = examples[4::5]
    training = [e for i, e in enumerate(examples) if i % 5 != 4]
    trial = fit(training, embedding_model=used)
    learned, baseline = accuracy(trial, held_out), accuracy(None, held_out)
    params = fit(examples, embedding_model=used)
    metrics = {
        "accuracy": round(learned, 4),
        "baseline_accuracy": round(baseline, 4),
        "held_out": len(held_out),
        "trained_on": len(training),
        "passed": sum(e.passed for e in examples),
        "sources": _count(label.source for label in labels),
    }
    with transaction.atomic():
        router, _created = RouterModel.objects.update_or_create(
            workspace_id=workspace_id,
            defaults={
                "params": params.to_dict(),
                "embedding_model": used,
                "label_count": len(labels),
                "metrics": metrics,
                "active": learned >= baseline,
                "trained_at": timezone.now(),
            },
        )
    forget_router(workspace_id)
    return router


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    return dict(counts)


def new_labels_since(workspace_id: int, since: datetime | None) -> int:
    """About how many labels arrived since `since`: judged steps, decisions, scored items."""
    after = Q(finished_at__gt=since) if since else Q()
    judged = Step.objects.filter(
        after,
        run__workspace_id=workspace_id,
        node_type__in=["evaluator", "approval"],
        status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED],
    ).count()
    scored = EvaluationItem.objects.filter(
        Q(scored_at__gt=since) if since else Q(), evaluation__workspace_id=workspace_id
    ).count()
    return judged + scored

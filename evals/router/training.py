"""Fitting a workspace's learned router on its labels, and counting the labels that arrive."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.domain import Invalid
from evals.models import EvaluationItem, RouterModel
from runs.engine.catalogue import tier_rank
from runs.engine.learned_routing import Example, accuracy, fit
from runs.llm.response import LlmError
from runs.models import Step, StepStatus

from .labels import router_labels
from .loading import forget_router

logger = logging.getLogger(__name__)

#: Labels a workspace needs before a router is fitted.
MIN_LABELS = 20
#: Cross-validation folds of the held-out figures (each label is held out once).
FOLDS = 5


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

    Its held-out figures come from FOLDS-fold cross-validation: each label is predicted once by
    a router fitted without it. Per tier, the router decides whether a model of that tier passes
    when it predicted that tier's held-out labels at least as well as the baseline; on the other
    tiers (`baseline_tiers`) the baseline's answer stands. It is active (used for routing) when
    it decides at least one tier. Then it is refitted on every label."""
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
    held_out = cross_validated(examples, embedding_model=used)
    learned = sum(h.learned_right for h in held_out) / len(held_out)
    baseline = sum(h.baseline_right for h in held_out) / len(held_out)
    params = fit(examples, embedding_model=used)
    tiers = _per_tier(held_out)
    by_rules = tiers_by_rules(tiers)
    metrics = {
        "accuracy": round(learned, 4),
        "baseline_accuracy": round(baseline, 4),
        "held_out": len(held_out),
        "folds": FOLDS,
        "tiers": tiers,
        "baseline_tiers": by_rules,
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
                "active": len(by_rules) < len(tiers),
                "trained_at": timezone.now(),
            },
        )
    forget_router(workspace_id)
    return router


@dataclass(frozen=True)
class HeldOut:
    """One label as a router fitted without it predicted it, and as the baseline does."""

    tier: str
    learned_right: bool
    baseline_right: bool


def cross_validated(examples: Sequence[Example], *, embedding_model: str) -> list[HeldOut]:
    """Predict every label with a router fitted on the other folds (label i is in fold i % FOLDS,
    so each fold spans the whole history)."""
    folds = min(FOLDS, len(examples))
    held_out: list[HeldOut] = []
    for fold in range(folds):
        training = [e for i, e in enumerate(examples) if i % folds != fold]
        trial = fit(training, embedding_model=embedding_model)
        for example in examples[fold::folds]:
            held_out.append(
                HeldOut(
                    example.tier,
                    accuracy(trial, [example]) == 1.0,
                    accuracy(None, [example]) == 1.0,
                )
            )
    return held_out


def tiers_by_rules(tiers: dict[str, dict[str, float]]) -> list[str]:
    """The tiers whose held-out labels the baseline predicted better than the learned router:
    on those, the baseline's answer stands."""
    worse = [t for t, m in tiers.items() if m["accuracy"] < m["baseline_accuracy"]]
    return sorted(worse, key=tier_rank)


def _per_tier(held_out: Sequence[HeldOut]) -> dict[str, dict[str, float]]:
    """Held-out labels, learned and baseline accuracy per tier."""
    tiers: dict[str, list[HeldOut]] = defaultdict(list)
    for h in held_out:
        tiers[h.tier].append(h)
    return {
        tier: {
            "labels": len(rows),
            "accuracy": round(sum(h.learned_right for h in rows) / len(rows), 4),
            "baseline_accuracy": round(sum(h.baseline_right for h in rows) / len(rows), 4),
        }
        for tier, rows in tiers.items()
    }


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

"""What an evaluation teaches the semantic cache once it ends: the answers it proved wrong go."""

from __future__ import annotations

from runs.llm.semantic_cache import entries_used, semantic_evict
from runs.models import Step

from .models import EvaluationItem, ItemStatus


def evaluation_evict_failed(*, evaluation_id: int) -> int:
    """Evict the semantic-cache answers that the failed items' runs were answered from or
    stored (a dataset's scorer found them wrong, as an evaluator would); return how many.

    Called when the evaluation ends, never per item: an item's expected answer must not change
    what a later item of the same evaluation is answered with, so the evaluation measures the
    cache as the flow's users get it; after it, the answers it proved wrong serve nobody."""
    failed = EvaluationItem.objects.filter(
        evaluation_id=evaluation_id, status=ItemStatus.FAILED, run__isnull=False
    ).values("run_id")
    used = [
        entry
        for details in Step.objects.filter(
            run_id__in=failed, details__has_key="semantic_cache"
        ).values_list("details", flat=True)
        for entry in entries_used(details)
    ]
    return semantic_evict(used)

"""Compare two evaluation runs: pass rate, cost and latency side by side, and the items whose
verdict changed, regressions first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import Evaluation, EvaluationItem
from .services import evaluation_summary

ORDER = {"regression": 0, "fixed": 1, "changed": 2, "missing": 3, "same": 4}


@dataclass
class ItemDiff:
    position: int
    inputs: Any
    expected: Any
    change: str
    left: EvaluationItem | None
    right: EvaluationItem | None

    @property
    def sides(self) -> list[EvaluationItem | None]:
        return [self.left, self.right]


@dataclass
class Comparison:
    left: Evaluation
    right: Evaluation
    left_summary: dict[str, Any]
    right_summary: dict[str, Any]
    items: list[ItemDiff] = field(default_factory=list)

    @property
    def regressions(self) -> list[ItemDiff]:
        return [d for d in self.items if d.change == "regression"]

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(ORDER, 0)
        for diff in self.items:
            counts[diff.change] += 1
        return counts

    def delta(self, key: str) -> Any:
        left, right = self.left_summary.get(key), self.right_summary.get(key)
        if left is None or right is None:
            return None
        return right - left


def _change(left: EvaluationItem | None, right: EvaluationItem | None) -> str:
    if left is None or right is None or left.passed is None or right.passed is None:
        return "missing"
    if left.passed and not right.passed:
        return "regression"
    if right.passed and not left.passed:
        return "fixed"
    return "same" if left.output == right.output else "changed"


def evaluations_compare(left: Evaluation, right: Evaluation) -> Comparison:
    """Match the two evaluations' items by dataset item (they should share a dataset)."""

    def items(evaluation: Evaluation) -> dict[int, EvaluationItem]:
        rows = evaluation.items.select_related("dataset_item", "run").order_by("position")
        return {item.dataset_item_id: item for item in rows}

    lefts, rights = items(left), items(right)
    comparison = Comparison(left, right, evaluation_summary(left), evaluation_summary(right))
    for key in list(dict.fromkeys([*lefts, *rights])):
        a, b = lefts.get(key), rights.get(key)
        example = (a or b).dataset_item
        comparison.items.append(
            ItemDiff(
                position=(b or a).position,
                inputs=example.inputs,
                expected=example.expected,
                change=_change(a, b),
                left=a,
                right=b,
            )
        )
    comparison.items.sort(key=lambda d: (ORDER[d.change], d.position))
    return comparison


def baseline_for(evaluation: Evaluation) -> Evaluation | None:
    """The latest finished evaluation of the same flow on the same dataset before this one."""
    return (
        Evaluation.objects.filter(
            flow_id=evaluation.flow_id,
            dataset_id=evaluation.dataset_id,
            status="succeeded",
            created_at__lte=evaluation.created_at,
        )
        .exclude(pk=evaluation.pk)
        .order_by("-created_at", "-pk")
        .first()
    )

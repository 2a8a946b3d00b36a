"""The learned router's labels: prompt steps of the workspace's records with their outcome.

A label is a prompt step that called a model, with its outcome:

- an evaluator right after it (same loop pass) took `pass` or `fail`;
- an approval right after it was approved (pass) or rejected, or approved with an edited
  payload (fail);
- its run was an evaluation item that passed or failed (every prompt step of that run without
  a verdict, and the answer the run kept when the item's result contradicts its verdict);
- an attempt of a cascade that failed its checks (fail, on that attempt's tier).

The request is read back from the step's first model-call recording (its rendered messages), the
tier from the workspace's catalogue. Reproductions and copied steps teach nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evals.models import EvaluationItem
from runs.engine.routing import RouteRequest
from runs.models import Approval, ApprovalStatus, Recording, Step, StepStatus

#: A router is fitted on at most this many labels (the newest).
MAX_LABELS = 5_000
ESCALATED = frozenset({"checks_failed", "invalid_json", "malformed_tool_call", "truncated"})


@dataclass
class Label:
    step_id: int
    request: RouteRequest
    tier: str
    passed: bool
    source: str  # evaluator, approval, evaluation, cascade


def _request_of(recording: dict[str, Any]) -> RouteRequest:
    """The request a step routed, from its first model call's recorded arguments."""
    messages = recording.get("messages") or []
    text = "\n\n".join(
        str(m.get("content") or "") for m in messages if m.get("role") in ("system", "user")
    )
    response_format = recording.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema")
    return RouteRequest(
        text=text,
        max_tokens=int(recording.get("max_tokens") or 512),
        json_schema=schema if isinstance(schema, dict) else None,
        json_output=bool(response_format),
        tools=len(recording.get("tools") or []),
    )


def _upstream(graph: dict[str, Any]) -> dict[str, set[str]]:
    sources: dict[str, set[str]] = defaultdict(set)
    for edge in graph.get("edges") or []:
        sources[edge.get("target")].add(edge.get("source"))
    return sources


def _outcomes(workspace_id: int, run_ids: set[int]) -> dict[tuple[int, str, int], list[bool]]:
    """(run, prompt node, iteration) → verdicts on that answer (evaluators and approvals)."""
    verdicts: dict[tuple[int, str, int], list[bool]] = defaultdict(list)
    judged = Step.objects.filter(
        run_id__in=run_ids,
        node_type="evaluator",
        status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED],  # failed: out of attempts
        reused=False,
    ).values_list("run_id", "node_id", "iteration", "output", "run__version__graph")
    graphs: dict[int, dict[str, set[str]]] = {}
    for run_id, node_id, iteration, output, graph in judged:
        passed = output.get("passed") if isinstance(output, dict) else None
        if not isinstance(passed, bool):
            continue
        upstream = graphs.setdefault(run_id, _upstream(graph or {}))
        for source in upstream.get(node_id, ()):
            verdicts[(run_id, source, iteration)].append(passed)
    approvals = (
        Approval.objects.filter(
            run_id__in=run_ids,
            workspace_id=workspace_id,
            status__in=[ApprovalStatus.APPROVED, ApprovalStatus.REJECTED],
            kind="approval",
        )
        .select_related("step", "run__version")
        .prefetch_related("decisions")
    )
    for approval in approvals:
        edited = any(d.edited_payload is not None for d in approval.decisions.all())
        passed = approval.status == ApprovalStatus.APPROVED and not edited
        upstream = graphs.setdefault(approval.run_id, _upstream(approval.run.version.graph or {}))
        for source in upstream.get(approval.node_id, ()):
            verdicts[(approval.run_id, source, approval.step.iteration)].append(passed)
    return verdicts


def router_labels(*, workspace_id: int, limit: int = MAX_LABELS) -> list[Label]:
    """Every label the workspace's records hold (the newest `limit` prompt steps' worth)."""
    from vault.services import model_catalogue

    tiers = {m.name: m.tier for m in model_catalogue(workspace_id)}
    steps = list(
        Step.objects.filter(
            run__workspace_id=workspace_id,
            run__reproduce=False,
            node_type="prompt",
            reused=False,
            status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED],
        )
        .order_by("-id")
        .values("id", "run_id", "node_id", "iteration", "details")[:limit]
    )
    steps.reverse()
    if not steps:
        return []
    run_ids = {s["run_id"] for s in steps}
    verdicts = _outcomes(workspace_id, run_ids)
    evaluated = dict(
        EvaluationItem.objects.filter(run_id__in=run_ids, passed__isnull=False).values_list(
            "run_id", "passed"
        )
    )
    first_call: dict[int, dict[str, Any]] = {}
    for step_id, request in (
        Recording.objects.filter(step_id__in=[s["id"] for s in steps], kind="llm")
        .order_by("step_id", "index")
        .values_list("step_id", "request")
    ):
        first_call.setdefault(step_id, request)
    kept: dict[tuple[int, str], int] = {}  # (run, node) → the iteration whose answer stayed
    for step in steps:
        key = (step["run_id"], step["node_id"])
        kept[key] = max(kept.get(key, -1), step["iteration"])
    labels: list[Label] = []
    for step in steps:
        recorded = first_call.get(step["id"])
        if not recorded:
            continue
        final = kept[(step["run_id"], step["node_id"])] == step["iteration"]
        labels.extend(_step_labels(step, recorded, tiers, verdicts, evaluated, final))
    return labels


def _step_labels(
    step: dict[str, Any],
    recorded: dict[str, Any],
    tiers: dict[str, str],
    verdicts: dict[tuple[int, str, int], list[bool]],
    evaluated: dict[int, bool],
    final: bool,
) -> Iterable[Label]:
    """The labels of one prompt step. On the answer its run kept (`final`), an evaluation
    result outranks a verdict it contradicts: a dataset's expected answer says what an
    evaluator could not see (a confident wrong figure it passed)."""
    request = _request_of(recorded)
    routing = (step["details"] or {}).get("routing") or {}
    for attempt in routing.get("attempts") or []:
        if attempt.get("outcome") in ESCALATED and attempt.get("tier"):
            yield Label(step["id"], request, attempt["tier"], False, "cascade")
    model = routing.get("chose") or recorded.get("model") or ""
    tier = tiers.get(model) or routing.get("tier")
    if not tier:
        return
    verdict = verdicts.get((step["run_id"], step["node_id"], step["iteration"]))
    truth = evaluated.get(step["run_id"])
    if verdict and not (final and truth is not None and truth != all(verdict)):
        yield Label(step["id"], request, tier, all(verdict), "verdict")
    elif truth is not None:
        yield Label(step["id"], request, tier, evaluated[step["run_id"]], "evaluation")

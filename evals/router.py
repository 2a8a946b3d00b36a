"""The learned model router's labels, training and use (the engine's `learned_routing` does the
maths; this module reads the workspace's records and keeps the fitted arrays).

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

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.domain import Invalid
from evals.models import EvaluationItem, RouterModel
from runs.engine.learned_routing import (
    Example,
    InvalidRouterParams,
    RouterParams,
    accuracy,
    fit,
)
from runs.engine.routing import RouteRequest
from runs.llm.response import LlmError
from runs.models import Approval, ApprovalStatus, Recording, Step, StepStatus

logger = logging.getLogger(__name__)

#: Labels a workspace needs before a router is fitted, and new ones that trigger a refit.
MIN_LABELS = 20
REFIT_EVERY = 50
#: The sweeper looks for workspaces to refit at most this often (seconds).
REFIT_CHECK_SECONDS = 600
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


def embedding_model() -> str:
    return getattr(settings, "SWITCHBOARD_ROUTER_EMBEDDING_MODEL", "") or (
        settings.SWITCHBOARD_EMBEDDING_MODEL
    )


def min_labels() -> int:
    return int(getattr(settings, "SWITCHBOARD_ROUTER_MIN_LABELS", MIN_LABELS))


# ---- labels ----------------------------------------------------------------------------------


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


# ---- training --------------------------------------------------------------------------------


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


_last_check = 0.0
_check_lock = threading.Lock()
_fitting = threading.Lock()


def refit_due_routers(now: datetime | None, *, background: bool = True) -> list[int]:
    """The sweeper's job: refit one workspace whose router is missing or behind its labels.

    Looks at most every REFIT_CHECK_SECONDS per process and starts no run. The fit itself (it
    may embed thousands of texts) runs on a thread of its own, one at a time, so a sweep that
    recovers runs never waits for it."""
    global _last_check
    with _check_lock:
        if time.monotonic() - _last_check < REFIT_CHECK_SECONDS:
            return []
        _last_check = time.monotonic()
    workspace_id = _due_workspace()
    if workspace_id is None or not _fitting.acquire(blocking=False):
        return []
    if not background:
        _fit_and_release(workspace_id)
        return []
    threading.Thread(
        target=_fit_and_release, args=(workspace_id,), name="router-refit", daemon=True
    ).start()
    return []


def _due_workspace() -> int | None:
    from workspaces.models import Workspace

    trained = dict(RouterModel.objects.values_list("workspace_id", "trained_at"))
    every = int(getattr(settings, "SWITCHBOARD_ROUTER_REFIT_EVERY", REFIT_EVERY))
    for workspace_id in Workspace.objects.values_list("id", flat=True):
        since = trained.get(workspace_id)
        if new_labels_since(workspace_id, since) >= (every if since else min_labels()):
            return workspace_id
    return None


def _fit_and_release(workspace_id: int) -> None:
    from django.db import connection

    try:
        router_train(workspace_id=workspace_id)
    except Invalid:
        pass  # the judged steps were not all labels (no recorded call, no tier)
    except Exception:
        logger.exception("Refitting workspace %s's router failed", workspace_id)
    finally:
        _fitting.release()
        if threading.current_thread() is not threading.main_thread():
            connection.close()


# ---- routing ---------------------------------------------------------------------------------

#: How often (seconds) a process asks the database whether a workspace's router changed: a
#: decision between two checks reads no table, so it costs a dot product, not a round trip.
RECHECK_SECONDS = 10.0


@dataclass
class _Loaded:
    checked: float  # time.monotonic() of the last look at the table
    trained_at: datetime | None  # None: the workspace has no usable router
    params: RouterParams | None = None
    about: str = ""


_loaded: dict[int, _Loaded] = {}
_loaded_lock = threading.Lock()


def forget_router(workspace_id: int) -> None:
    """Drop this process's copy of a workspace's router (it was just refitted here)."""
    with _loaded_lock:
        _loaded.pop(workspace_id, None)


def active_router(workspace_id: int) -> tuple[RouterParams, str] | None:
    """The workspace's usable router and a line about it: loaded once per refit per process,
    and looked up in the database at most every RECHECK_SECONDS."""
    with _loaded_lock:
        cached = _loaded.get(workspace_id)
    now = time.monotonic()
    if cached and now - cached.checked < RECHECK_SECONDS:
        return (cached.params, cached.about) if cached.params is not None else None
    row = (
        RouterModel.objects.filter(workspace_id=workspace_id, active=True)
        .values_list("trained_at", flat=True)
        .first()
    )
    if cached and cached.trained_at == row and row is not None and cached.params is not None:
        cached.checked = now
        return cached.params, cached.about
    loaded = _Loaded(checked=now, trained_at=None)
    stored = RouterModel.objects.filter(workspace_id=workspace_id).first() if row else None
    if stored is not None:
        try:
            loaded.params = RouterParams.from_dict(stored.params)
            loaded.trained_at = stored.trained_at
        except InvalidRouterParams as exc:
            logger.warning(
                "Workspace %s's router is unusable (%s): the baseline routes", stored, exc
            )
        metrics = stored.metrics or {}
        loaded.about = (
            f"{stored.label_count} labels; held-out accuracy {metrics.get('accuracy', 0):.0%} "
            f"vs the baseline's {metrics.get('baseline_accuracy', 0):.0%}"
        )
    with _loaded_lock:
        _loaded[workspace_id] = loaded
    return (loaded.params, loaded.about) if loaded.params is not None else None


def route_scores(*, workspace_id: int, request: RouteRequest) -> dict[str, Any] | None:
    """P(pass) per tier for one request from the workspace's router, or None (it has none)."""
    loaded = active_router(workspace_id)
    if loaded is None:
        return None
    params, about = loaded
    usage: dict[str, Any] = {}
    vector = None
    if params.dimensions:
        from knowledge.embeddings import embed_cached

        try:
            embedded = embed_cached([request.text], model=params.embedding_model)
        except LlmError as exc:
            return {"unavailable": f"the request could not be embedded: {exc.message}"}
        vector = embedded.vectors[0]
        usage = {"model": embedded.model, "tokens": embedded.tokens, "cost": embedded.cost}
    try:
        probabilities = params.probabilities(request, vector)
    except InvalidRouterParams as exc:
        return {"unavailable": str(exc)}
    return {"probabilities": probabilities, "about": about, "usage": usage}

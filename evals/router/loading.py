"""Routing with a workspace's learned router: its stored arrays, loaded once per refit per
process, and P(pass) per tier for one request."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evals.models import RouterModel
from runs.engine.catalogue import TIERS
from runs.engine.learned_routing import InvalidRouterParams, RouterParams, baseline_passes
from runs.engine.routing import RouteRequest
from runs.llm.response import LlmError

logger = logging.getLogger(__name__)

#: How often (seconds) a process asks the database whether a workspace's router changed: a
#: decision between two checks reads no table, so it costs a dot product, not a round trip.
RECHECK_SECONDS = 10.0


@dataclass
class _Loaded:
    checked: float  # time.monotonic() of the last look at the table
    trained_at: datetime | None  # None: the workspace has no usable router
    params: RouterParams | None = None
    about: str = ""
    baseline_tiers: frozenset[str] = frozenset()  # tiers on which the baseline's answer stands


_loaded: dict[int, _Loaded] = {}
_loaded_lock = threading.Lock()


def forget_router(workspace_id: int) -> None:
    """Drop this process's copy of a workspace's router (it was just refitted here)."""
    with _loaded_lock:
        _loaded.pop(workspace_id, None)


def forget_routers() -> None:
    """Drop this process's copies of every workspace's router (the next decision looks again)."""
    with _loaded_lock:
        _loaded.clear()


@dataclass(frozen=True)
class ActiveRouter:
    params: RouterParams
    about: str
    baseline_tiers: frozenset[str]


def active_router(workspace_id: int) -> ActiveRouter | None:
    """The workspace's usable router and a line about it: loaded once per refit per process,
    and looked up in the database at most every RECHECK_SECONDS."""
    with _loaded_lock:
        cached = _loaded.get(workspace_id)
    now = time.monotonic()
    if cached and now - cached.checked < RECHECK_SECONDS:
        return _usable(cached)
    row = (
        RouterModel.objects.filter(workspace_id=workspace_id, active=True)
        .values_list("trained_at", flat=True)
        .first()
    )
    if cached and cached.trained_at == row and row is not None and cached.params is not None:
        cached.checked = now
        return _usable(cached)
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
        by_rules = [t for t in metrics.get("baseline_tiers") or [] if t in TIERS]
        loaded.baseline_tiers = frozenset(by_rules)
        loaded.about = (
            f"{stored.label_count} labels; held-out accuracy {metrics.get('accuracy', 0):.0%} "
            f"vs the baseline's {metrics.get('baseline_accuracy', 0):.0%}"
            + (f"; the rules decide {', '.join(by_rules)}" if by_rules else "")
        )
    with _loaded_lock:
        _loaded[workspace_id] = loaded
    return _usable(loaded)


def _usable(loaded: _Loaded) -> ActiveRouter | None:
    if loaded.params is None:
        return None
    return ActiveRouter(loaded.params, loaded.about, loaded.baseline_tiers)


def route_scores(*, workspace_id: int, request: RouteRequest) -> dict[str, Any] | None:
    """P(pass) per tier for one request from the workspace's router, or None (it has none)."""
    loaded = active_router(workspace_id)
    if loaded is None:
        return None
    params, about = loaded.params, loaded.about
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
    if loaded.baseline_tiers:
        probabilities = with_baseline_tiers(request, probabilities, loaded.baseline_tiers)
    return {"probabilities": probabilities, "about": about, "usage": usage}


def with_baseline_tiers(
    request: RouteRequest, probabilities: dict[str, float], tiers: frozenset[str]
) -> dict[str, float]:
    """P(pass) per tier where `tiers` take the baseline's answer (1 when its tier for the
    request is at or below, else 0), still never decreasing with the tier."""
    result: dict[str, float] = {}
    best = 0.0
    for tier in TIERS:
        p = probabilities.get(tier, 0.0)
        if tier in tiers:
            p = 1.0 if baseline_passes(request, tier) else 0.0
        best = max(best, p)
        result[tier] = best
    return result

"""Re-run, re-run from a step, reproduce and compare: the API of DESIGN's "Replay, re-run"."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from config.ratelimits import starts_runs
from config.schemas import Id, StrictIn
from runs import dispatch, selectors
from runs.services.reruns import run_reproduce, run_rerun, runs_compare

router = Router(tags=["runs"])


class RerunIn(StrictIn):
    from_node: str | None = Field(
        None, max_length=64, description="Re-run from this node, reusing the steps upstream of it"
    )
    use_draft: bool = Field(False, description="Run the flow's current draft")
    inputs: dict[str, Any] | None = Field(
        None, description="Edited inputs; the original's if omitted"
    )


class RerunOut(Schema):
    id: int
    parent_run: int
    from_node: str
    status: str
    url: str
    ws_url: str


def _started(run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "parent_run": run.parent_run_id,
        "from_node": run.from_node,
        "status": run.status,
        "url": f"/runs/{run.pk}/",
        "ws_url": f"/ws/runs/{run.pk}/",
    }


@router.post("/runs/{int:run_id}/rerun", response={202: RerunOut})
@starts_runs
def rerun(request: HttpRequest, run_id: Id, payload: RerunIn):
    """Start a new run like this one: from scratch, or from a step with upstream outputs reused."""
    original = selectors.run_get(user=request.user, run_id=run_id, permission="run")
    new = run_rerun(
        user=request.user,
        run=original,
        from_node=payload.from_node or None,
        use_draft=payload.use_draft,
        inputs=payload.inputs,
    )
    dispatch.kick(new.pk)
    return Status(202, _started(new))


@router.post("/runs/{int:run_id}/reproduce", response={202: RerunOut})
@starts_runs
def reproduce(request: HttpRequest, run_id: Id):
    """Re-execute a finished run from its recorded model and tool responses: no external calls."""
    original = selectors.run_get(user=request.user, run_id=run_id, permission="run")
    new = run_reproduce(user=request.user, run=original)
    dispatch.kick(new.pk)
    return Status(202, _started(new))


@router.get("/runs/{int:left_id}/compare/{int:right_id}", response=dict[str, Any])
def compare(request: HttpRequest, left_id: Id, right_id: Id):
    """Compare two runs node by node (output, tokens, cost, latency) and in total."""
    left = selectors.run_get(user=request.user, run_id=left_id)
    right = selectors.run_get(user=request.user, run_id=right_id)
    return runs_compare(left=left, right=right)

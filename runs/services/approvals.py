"""Human approvals: created by a waiting step, decided by assignees, timed out by the sweeper."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from config.domain import Conflict, Invalid, NotAllowed, NotFound, RunConflict, TooLarge
from runs.models import (
    Approval,
    ApprovalDecision,
    ApprovalKind,
    ApprovalStatus,
    Run,
    RunStatus,
    Step,
    StepStatus,
)
from workspaces.models import Membership

from .lifecycle import RunChange, lock_run

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_COMMENT_CHARS = 5_000


def approval_create(
    *, run: Run, step: Step, wait: dict[str, Any], title: str | None = None
) -> Approval:
    """Record a pending approval for a step that asked to wait (inside the caller's transaction)."""
    timeout = wait.get("timeout_seconds")
    remind = wait.get("remind_after_seconds")
    now = timezone.now()
    approval = Approval.objects.create(
        run=run,
        step=step,
        workspace_id=run.workspace_id,
        node_id=step.node_id,
        kind=wait.get("kind") or ApprovalKind.APPROVAL,
        title=str(title or _node_label(run, step.node_id))[:200],
        quorum=int(wait.get("quorum") or 1),
        instructions=wait.get("instructions") or "",
        payload=wait.get("payload") or {},
        allow_edit=bool(wait.get("allow_edit")),
        timeout_action=wait.get("timeout_action") or "timed_out",
        due_at=now + timedelta(seconds=timeout) if timeout else None,
        remind_at=now + timedelta(seconds=remind) if remind else None,
        created_at=now,
    )
    members = Membership.objects.filter(workspace_id=run.workspace_id)
    usernames = list(wait.get("users") or [])
    users = (
        get_user_model().objects.filter(username__in=usernames, memberships__in=members).distinct()
    )
    approval.users.set(users)
    groups = Group.objects.filter(name__in=list(wait.get("groups") or []))
    approval.groups.set(groups)
    if not usernames and not wait.get("groups"):
        # No one named: anyone in the workspace who may approve can decide.
        approvers = get_user_model().objects.filter(
            memberships__workspace_id=run.workspace_id,
            memberships__role__in=["owner", "editor", "approver"],
        )
        approval.users.set(approvers)
    return approval


def approval_request(
    change: RunChange, *, step: Step, wait: dict[str, Any], title: str, code: str = ""
) -> Approval:
    """Put a waiting step in the inbox and tell the run (`approval.requested`), in the step's
    transaction. `code`: a failed step's error code, for a task handed to a person."""
    approval = approval_create(run=change.run, step=step, wait=wait, title=title)
    requested = {
        "approval_id": approval.pk,
        "step_id": step.pk,
        "payload": approval.payload,
        "instructions": approval.instructions,
    }
    if approval.kind != ApprovalKind.APPROVAL:
        requested.update(kind=approval.kind, code=code)
    change.event("approval.requested", step.node_id, requested)
    return approval


def _node_label(run: Run, node_id: str) -> str:
    for node in run.version.graph.get("nodes", []):
        if node.get("id") == node_id:
            return node.get("label") or node_id
    return node_id


def approvals_for(user) -> QuerySet[Approval]:
    """Approvals assigned to a user (directly or through a group), in their workspaces."""
    if not user.is_authenticated:
        return Approval.objects.none()
    return (
        Approval.objects.filter(workspace__memberships__user=user)
        .filter(Q(users=user) | Q(groups__user=user))
        .distinct()
    )


def approvals_visible_to(user) -> QuerySet[Approval]:
    """Approvals in the user's workspaces: anyone who may read a run may see its approvals."""
    if not user.is_authenticated:
        return Approval.objects.none()
    return Approval.objects.filter(workspace__memberships__user=user).distinct()


def approval_get(*, user, approval_id: int) -> Approval:
    """Return an approval the user may see; 404 outside their workspaces."""
    approval = (
        approvals_visible_to(user)
        .select_related("run", "run__flow", "step")
        .filter(pk=approval_id)
        .first()
    )
    if approval is None:
        raise NotFound("Approval not found")
    return approval


def _is_assignee(approval: Approval, user) -> bool:
    return approvals_for(user).filter(pk=approval.pk).exists()


def _can_approve(approval: Approval, user) -> bool:
    membership = Membership.objects.filter(user=user, workspace_id=approval.workspace_id).first()
    return membership is not None and membership.can("approve")


def approval_can_decide(approval: Approval, user) -> bool:
    """True if the user is an assignee whose role may approve and the approval is open to them."""
    return (
        approval.status == ApprovalStatus.PENDING
        and _is_assignee(approval, user)
        and _can_approve(approval, user)
        and not approval.decisions.filter(user=user).exists()
    )


def _check_payload(approval: Approval, payload: Any) -> None:
    if payload is None:
        return
    if not approval.allow_edit:
        raise Invalid("This approval does not allow edits.", code="edit_not_allowed")
    if not isinstance(payload, dict):
        raise Invalid("The edited payload must be a JSON object.", code="invalid_payload")


def _check_access(approval: Approval | None, user) -> Approval:
    """404 for an approval the user cannot see, 403 for one they see but may not decide."""
    if approval is None or not approvals_visible_to(user).filter(pk=approval.pk).exists():
        raise NotFound("Approval not found")
    if not _is_assignee(approval, user):
        raise NotAllowed("Only the people this approval is assigned to can decide it.")
    if not _can_approve(approval, user):
        raise NotAllowed("Your role does not allow deciding approvals.")
    return approval


def _already_settled(approval: Approval, user, decision: str, payload: Any) -> bool:
    """Return True if this decision repeats what already holds (a no-op); raise 409 if it
    contradicts it."""
    mine = approval.decisions.filter(user=user).first()
    if mine is not None:
        if mine.decision == decision and (payload is None or mine.edited_payload == payload):
            return True
        raise Conflict(
            f"You already {mine.decision} this; decisions cannot be changed.",
            current_status=approval.status,
            code="already_decided",
        )
    if approval.status == ApprovalStatus.PENDING:
        return False
    if approval.status == decision and payload is None:
        # Someone else reached the same outcome first (two approvers at once): nothing to do.
        return True
    raise Conflict(
        f"This approval is already {approval.get_status_display().lower()}.",
        current_status=approval.status,
        code="already_decided",
    )


@dataclass
class Decided:
    """What a decision did: `changed` unless it repeated one that already held; `resume` is the
    run to kick when the decision settled the approval."""

    approval: Approval
    changed: bool
    resume: int | None = None


def approval_decide(
    *,
    user,
    approval_id: int,
    decision: str,
    comment: str = "",
    payload: Any = None,
) -> Decided:
    """Record a decision.

    Only assignees whose role may approve can decide (others: NotAllowed; outside the workspace:
    NotFound). Repeating a decision that already holds is a no-op; contradicting one is a
    conflict. The approval row is locked, so two approvers deciding at once resume the run once.
    """
    if decision not in ("approved", "rejected"):
        raise Invalid('Decision must be "approved" or "rejected".', code="invalid_decision")
    if payload is not None and len(json.dumps(payload, default=str)) > MAX_PAYLOAD_BYTES:
        raise TooLarge("The edited payload is larger than 256 KB.", code="too_large")
    if len(comment) > MAX_COMMENT_CHARS:
        raise Invalid("The comment is longer than 5,000 characters.", code="invalid_comment")
    with transaction.atomic():
        run, approval = _lock(approval_id)
        approval = _check_access(approval, user)
        if approval.kind == ApprovalKind.FALLBACK:
            raise Invalid(
                "This is a failed step, not an approval: type its output, retry it or fail it.",
                code="not_an_approval",
            )
        _check_payload(approval, payload)
        if _already_settled(approval, user, decision, payload):
            return Decided(approval, False)
        if run.is_finished:
            approval.status = ApprovalStatus.CANCELLED
            approval.decided_at = timezone.now()
            approval.save(update_fields=["status", "decided_at"])
            closed = True
        else:
            closed = False
            change = RunChange(run)
            settled = _record(
                change, approval, user=user, decision=decision, comment=comment, payload=payload
            )
            change.save()
    if closed:
        raise RunConflict(
            f"The run is {run.status}; this approval was closed.",
            current_status=run.status,
            code="run_finished",
        )
    return Decided(approval, True, resume=run.pk if settled else None)


def _lock(approval_id: int) -> tuple[Run | None, Approval | None]:
    """Lock an approval's run, then the approval: runs are always locked first (cancel, step
    recording and recovery do the same), so concurrent operations cannot deadlock."""
    run_id = Approval.objects.filter(pk=approval_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return None, None
    run = lock_run(run_id)
    return run, Approval.objects.select_for_update().get(pk=approval_id)


def _record(
    change: RunChange, approval: Approval, *, user, decision: str, comment: str, payload: Any
) -> bool:
    """Audit the decision; return True once it settles the approval (the run is to resume)."""
    ApprovalDecision.objects.create(
        approval=approval,
        user=user,
        decision=decision,
        comment=comment,
        edited_payload=payload,
    )
    approvals = approval.decisions.filter(decision="approved").count()
    if decision == "rejected" or approvals >= approval.quorum:
        status = ApprovalStatus.REJECTED if decision == "rejected" else ApprovalStatus.APPROVED
        return _resolve(change, approval, status, payload, by=user, comment=comment)
    change.event(
        "approval.decided",
        approval.node_id,
        {
            "approval_id": approval.pk,
            "decision": decision,
            "by": user.get_username(),
            "comment": comment,
            "approvals": approvals,
            "quorum": approval.quorum,
            "final": False,
        },
    )
    return False


def _resolve(
    change: RunChange, approval: Approval, status: str, payload: Any, *, by=None, comment: str = ""
) -> bool:
    """Close an approval and its step (the caller holds the run and approval locks). Return
    True when the run is to resume."""
    run = change.run
    step = Step.objects.select_for_update().get(pk=approval.step_id)
    now = timezone.now()
    if run.is_finished or step.status != StepStatus.WAITING:
        approval.status = ApprovalStatus.CANCELLED
        approval.decided_at = now
        approval.save(update_fields=["status", "decided_at"])
        return False
    approval.status = status
    approval.decided_at = now
    approval.save(update_fields=["status", "decided_at"])
    edited = payload if payload is not None else _latest_edit(approval)
    step.status = StepStatus.SUCCEEDED
    step.ports = [status]
    step.output = edited if edited is not None else approval.payload
    step.finished_at = now
    step.save(update_fields=["status", "ports", "output", "finished_at"])
    change.event(
        "approval.decided",
        approval.node_id,
        {
            "approval_id": approval.pk,
            "decision": status,
            "by": by.get_username() if by is not None else "timeout",
            "comment": comment,
            "edited": edited is not None,
            "final": True,
        },
    )
    change.event(
        "step.succeeded",
        approval.node_id,
        {
            "iteration": step.iteration,
            "step_id": step.pk,
            "output": step.output,
            "ports": step.ports,
        },
    )
    change.resume()
    return True


def _latest_edit(approval: Approval) -> Any:
    decision = approval.decisions.exclude(edited_payload=None).order_by("-created_at").first()
    return decision.edited_payload if decision else None


def approvals_time_out(*, now=None) -> list[int]:
    """Resolve pending approvals and tasks for a person past their due time with their timeout
    action; return the runs to resume. Each is locked and re-read before it is applied, so two
    sweepers at once apply it once; a sweep that never came (a restart) is caught up by the next.
    """
    from .fallbacks import fallback_expire

    now = now or timezone.now()
    resumed = []
    due = Approval.objects.filter(status=ApprovalStatus.PENDING, due_at__lte=now)
    for approval_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            run, approval = _lock(approval_id)
            if approval is None or approval.status != ApprovalStatus.PENDING:
                continue
            change = RunChange(run)
            if approval.kind == ApprovalKind.FALLBACK:
                expired = fallback_expire(change, approval)
            else:
                action = approval.timeout_action
                status = {
                    "approved": ApprovalStatus.APPROVED,
                    "rejected": ApprovalStatus.REJECTED,
                }.get(action, ApprovalStatus.TIMED_OUT)
                expired = _resolve(change, approval, status, None)
            if expired:
                resumed.append(approval.run_id)
            change.save()
    return resumed


def approvals_close_finished() -> int:
    """Close approvals still pending on runs that ended another way (failed, cancelled)."""
    return Approval.objects.filter(
        status=ApprovalStatus.PENDING,
        run__status__in=[
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
            RunStatus.DEAD_LETTER,
        ],
    ).update(status=ApprovalStatus.CANCELLED, decided_at=timezone.now())

"""Human approvals: created by a waiting step, decided by assignees, timed out by the sweeper."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from config.errors import ApiError, forbidden, not_found
from runs.models import (
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    Run,
    RunStatus,
    Step,
    StepStatus,
)
from workspaces.models import Membership

from .events import event_append

MAX_PAYLOAD_BYTES = 256 * 1024


def approval_create(*, run: Run, step: Step, wait: dict[str, Any]) -> Approval:
    """Record a pending approval for a step that asked to wait (inside the caller's transaction)."""
    timeout = wait.get("timeout_seconds")
    approval = Approval.objects.create(
        run=run,
        step=step,
        workspace_id=run.workspace_id,
        node_id=step.node_id,
        title=str(_node_label(run, step.node_id))[:200],
        quorum=int(wait.get("quorum") or 1),
        instructions=wait.get("instructions") or "",
        payload=wait.get("payload") or {},
        allow_edit=bool(wait.get("allow_edit")),
        timeout_action=wait.get("timeout_action") or "timed_out",
        due_at=timezone.now() + timedelta(seconds=timeout) if timeout else None,
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


def _is_assignee(approval: Approval, user) -> bool:
    return approvals_for(user).filter(pk=approval.pk).exists()


def _can_approve(approval: Approval, user) -> bool:
    membership = Membership.objects.filter(user=user, workspace_id=approval.workspace_id).first()
    return membership is not None and membership.can("approve")


def approval_decide(
    *,
    user,
    approval_id: int,
    decision: str,
    comment: str = "",
    payload: Any = None,
) -> tuple[Approval, bool]:
    """Record a decision; return (approval, changed). Idempotent; conflicting repeats are 409."""
    if decision not in ("approved", "rejected"):
        raise ApiError(422, "invalid_decision", 'Decision must be "approved" or "rejected".')
    if payload is not None and len(json.dumps(payload, default=str)) > MAX_PAYLOAD_BYTES:
        raise ApiError(413, "too_large", "The edited payload is larger than 256 KB.")
    resume = False
    with transaction.atomic():
        approval = Approval.objects.select_for_update().filter(pk=approval_id).first()
        if approval is None or not _is_assignee(approval, user):
            raise not_found("Approval not found")
        if not _can_approve(approval, user):
            raise forbidden("Your role does not allow deciding approvals.")
        if payload is not None and not approval.allow_edit:
            raise ApiError(422, "edit_not_allowed", "This approval does not allow edits.")
        if payload is not None and not isinstance(payload, dict):
            raise ApiError(422, "invalid_payload", "The edited payload must be a JSON object.")
        mine = approval.decisions.filter(user=user).first()
        if mine is not None:
            same = mine.decision == decision and (payload is None or mine.edited_payload == payload)
            if same:
                return approval, False
            raise ApiError(
                409,
                "already_decided",
                f"You already {mine.decision} this; decisions cannot be changed.",
            )
        if approval.status != ApprovalStatus.PENDING:
            raise ApiError(
                409,
                "already_decided",
                f"This approval is already {approval.get_status_display().lower()}.",
            )
        ApprovalDecision.objects.create(
            approval=approval,
            user=user,
            decision=decision,
            comment=comment,
            edited_payload=payload,
        )
        approvals = approval.decisions.filter(decision="approved").count()
        if decision == "rejected":
            resume = _resolve(approval, ApprovalStatus.REJECTED, payload, by=user, comment=comment)
        elif approvals >= approval.quorum:
            resume = _resolve(approval, ApprovalStatus.APPROVED, payload, by=user, comment=comment)
        else:
            run = Run.objects.select_for_update().get(pk=approval.run_id)
            event_append(
                run,
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
        if resume:
            from runs.executor import executor

            run_id = approval.run_id
            transaction.on_commit(lambda: executor().advance(run_id))
    return approval, True


def _resolve(approval: Approval, status: str, payload: Any, *, by=None, comment: str = "") -> bool:
    """Close an approval and its step (caller holds the approval lock). Return True to resume."""
    run = Run.objects.select_for_update().get(pk=approval.run_id)
    if run.is_finished:
        approval.status = ApprovalStatus.CANCELLED
        approval.save(update_fields=["status"])
        return False
    now = timezone.now()
    approval.status = status
    approval.decided_at = now
    approval.save(update_fields=["status", "decided_at"])
    step = Step.objects.select_for_update().get(pk=approval.step_id)
    edited = payload if payload is not None else _latest_edit(approval)
    step.status = StepStatus.SUCCEEDED
    step.ports = [status]
    step.output = edited if edited is not None else approval.payload
    step.finished_at = now
    step.save(update_fields=["status", "ports", "output", "finished_at"])
    event_append(
        run,
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
    event_append(
        run,
        "step.succeeded",
        approval.node_id,
        {
            "iteration": step.iteration,
            "step_id": step.pk,
            "output": step.output,
            "ports": step.ports,
        },
    )
    if run.status == RunStatus.WAITING:
        run.status = RunStatus.RUNNING
        run.save(update_fields=["status"])
        event_append(run, "run.started", data={"resumed": True})
    return True


def _latest_edit(approval: Approval) -> Any:
    decision = approval.decisions.exclude(edited_payload=None).order_by("-created_at").first()
    return decision.edited_payload if decision else None


def approvals_time_out(*, now=None) -> list[int]:
    """Resolve pending approvals past their due time with their timeout action."""
    now = now or timezone.now()
    resumed = []
    due = Approval.objects.filter(status=ApprovalStatus.PENDING, due_at__lte=now)
    for approval_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            approval = Approval.objects.select_for_update().get(pk=approval_id)
            if approval.status != ApprovalStatus.PENDING:
                continue
            action = approval.timeout_action
            status = {"approved": ApprovalStatus.APPROVED, "rejected": ApprovalStatus.REJECTED}.get(
                action, ApprovalStatus.TIMED_OUT
            )
            if _resolve(approval, status, None):
                resumed.append(approval.run_id)
    return resumed

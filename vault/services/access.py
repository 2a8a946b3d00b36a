"""Who may read and change a workspace's credentials and providers, and the audit of changes."""

from __future__ import annotations

from config.domain import NotAllowed, NotFound
from workspaces.audit import record_audit
from workspaces.models import Membership, Workspace
from workspaces.services import membership_for


def audit(*, workspace_id: int, actor, action: str, target: str, detail: dict | None = None):
    record_audit(
        workspace=Workspace(pk=workspace_id),
        actor=actor,
        action=action,
        target=target,
        detail=detail,
    )


def require_member(*, user, workspace_id: int, write: bool) -> Membership:
    """The user's membership: 404 outside the workspace, 403 for writes below editor."""
    membership = membership_for(user=user, workspace_id=workspace_id)
    if membership is None:
        raise NotFound("Workspace not found")
    if write and not membership.can("edit"):
        raise NotAllowed(
            "Only the workspace's owners and editors can change credentials and model providers."
        )
    return membership

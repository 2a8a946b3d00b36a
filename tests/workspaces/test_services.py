"""Roles, permission checks and token authentication."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError

from workspaces.models import ROLE_PERMISSIONS, ApiToken, Membership, Role
from workspaces.services import (
    PermissionDenied,
    membership_for,
    require,
    token_authenticate,
    workspace_create,
    workspaces_for,
)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {"read"}),
        (Role.APPROVER, {"read", "approve"}),
        (Role.EDITOR, {"read", "edit", "run", "approve"}),
        (Role.OWNER, {"read", "edit", "run", "approve", "manage"}),
    ],
)
def test_require_follows_the_role(member, workspace, role, allowed):
    user = member(role)
    assert ROLE_PERMISSIONS[role] == allowed
    for permission in ("read", "edit", "run", "approve", "manage"):
        if permission in allowed:
            assert require(user=user, workspace_id=workspace.pk, permission=permission).role == role
        else:
            with pytest.raises(PermissionDenied):
                require(user=user, workspace_id=workspace.pk, permission=permission)


def test_require_refuses_non_members_and_anonymous(make_user, workspace):
    with pytest.raises(PermissionDenied):
        require(user=make_user("outsider"), workspace_id=workspace.pk, permission="read")
    with pytest.raises(PermissionDenied):
        require(user=AnonymousUser(), workspace_id=workspace.pk, permission="read")
    assert membership_for(user=AnonymousUser(), workspace_id=workspace.pk) is None
    assert not workspaces_for(AnonymousUser()).exists()


def test_workspace_create_makes_the_creator_owner(make_user):
    user = make_user("founder")
    workspace = workspace_create(name="New", slug="new", owner=user)
    assert membership_for(user=user, workspace_id=workspace.pk).role == Role.OWNER
    assert list(workspaces_for(user)) == [workspace]


def test_membership_is_unique_per_workspace_and_user(member, workspace):
    user = member(Role.VIEWER)
    with pytest.raises(IntegrityError):
        Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)


def test_token_authenticate(make_user):
    user = make_user("integrator")
    token, raw = ApiToken.issue(user=user, name="ci")
    assert token_authenticate(raw) == user
    assert token_authenticate("") is None
    assert token_authenticate(raw + "x") is None
    token.revoked_at = token.created_at
    token.save()
    assert token_authenticate(raw) is None

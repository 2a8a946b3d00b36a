"""Workspaces the user belongs to, and personal API tokens."""

from datetime import datetime
from typing import Annotated

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from pydantic import StringConstraints

from config.errors import not_found
from config.schemas import Id, StrictIn

from .models import ApiToken, Membership
from .services import membership_for

router = Router(tags=["workspaces"])


class WorkspaceOut(Schema):
    id: int
    name: str
    slug: str
    role: str


class TokenIn(StrictIn):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(..., description="Shown once. Store it now; it cannot be shown again.")


@router.get("/workspaces", response=list[WorkspaceOut])
def workspace_list(request: HttpRequest):
    memberships = Membership.objects.filter(user=request.user).select_related("workspace")
    return [
        {"id": m.workspace_id, "name": m.workspace.name, "slug": m.workspace.slug, "role": m.role}
        for m in memberships
    ]


class PersonOut(Schema):
    username: str
    display_name: str


class GroupOut(Schema):
    name: str


class PeopleOut(Schema):
    users: list[PersonOut]
    groups: list[GroupOut]


@router.get("/workspaces/{int:workspace_id}/people", response=PeopleOut)
def workspace_people(request: HttpRequest, workspace_id: Id):
    """The workspace's members and the groups they belong to (approval assignees)."""
    if membership_for(user=request.user, workspace_id=workspace_id) is None:
        raise not_found("Workspace not found")
    users = get_user_model().objects.filter(memberships__workspace_id=workspace_id)
    groups = Group.objects.filter(user__memberships__workspace_id=workspace_id).distinct()
    return {
        "users": [
            {"username": u.get_username(), "display_name": u.get_full_name() or u.get_username()}
            for u in users.order_by("username")
        ],
        "groups": [{"name": g.name} for g in groups.order_by("name")],
    }


def _token(token: ApiToken) -> dict:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@router.get("/tokens", response=list[TokenOut], tags=["tokens"])
def token_list(request: HttpRequest):
    return [_token(t) for t in ApiToken.objects.filter(user=request.user)]


@router.post("/tokens", response={201: TokenCreatedOut}, tags=["tokens"])
def token_create(request: HttpRequest, payload: TokenIn):
    token, raw = ApiToken.issue(user=request.user, name=payload.name)
    return Status(201, {**_token(token), "token": raw})


@router.delete("/tokens/{int:token_id}", response={204: None}, tags=["tokens"])
def token_revoke(request: HttpRequest, token_id: Id):
    updated = ApiToken.objects.filter(
        pk=token_id, user=request.user, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if not updated and not ApiToken.objects.filter(pk=token_id, user=request.user).exists():
        raise not_found("Token not found")
    return Status(204, None)

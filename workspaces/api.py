"""Workspaces the user belongs to, and personal API tokens."""

from datetime import datetime, timedelta
from typing import Annotated

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from pydantic import StringConstraints, model_validator

from config.domain import Invalid
from config.errors import not_found
from config.schemas import Id, StrictIn

from . import services
from .models import ApiToken, Membership
from .services import MAX_TOKEN_DAYS, membership_for

router = Router(tags=["workspaces"])


class WorkspaceOut(Schema):
    id: int
    name: str
    slug: str
    role: str


class TokenIn(StrictIn):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    expires_in_days: int | None = Field(
        None, ge=1, le=MAX_TOKEN_DAYS, description="Days until the token stops working."
    )
    # JSON has no datetime type: an ISO 8601 string is the one way to send one.
    expires_at: datetime | None = Field(
        None,
        strict=False,
        description="When the token stops working (ISO 8601, with a time zone).",
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> "TokenIn":
        if self.expires_in_days is not None and self.expires_at is not None:
            raise ValueError("Give expires_in_days or expires_at, not both.")
        return self


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None


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
        "expires_at": token.expires_at,
    }


@router.get("/tokens", response=list[TokenOut], tags=["tokens"])
def token_list(request: HttpRequest):
    """Your personal API tokens (their values are never shown again)."""
    return [_token(t) for t in services.tokens_of(request.user)]


@router.post("/tokens", response={201: TokenCreatedOut}, tags=["tokens"])
def token_create(request: HttpRequest, payload: TokenIn):
    """Create a personal token, optionally expiring. Its value is in this response only."""
    expires_at = payload.expires_at
    if payload.expires_in_days is not None:
        expires_at = timezone.now() + timedelta(days=payload.expires_in_days)
    if expires_at is not None and timezone.is_naive(expires_at):
        raise Invalid("expires_at needs a time zone (e.g. 2027-01-31T00:00:00Z).")
    if expires_at is not None and expires_at > timezone.now() + timedelta(days=MAX_TOKEN_DAYS):
        raise Invalid("A token can be valid for at most ten years.", code="invalid_expiry")
    token, raw = services.token_create(user=request.user, name=payload.name, expires_at=expires_at)
    return Status(201, {**_token(token), "token": raw})


@router.delete("/tokens/{int:token_id}", response={204: None}, tags=["tokens"])
def token_revoke(request: HttpRequest, token_id: Id):
    """Revoke one of your tokens; programs using it get 401 from then on."""
    services.token_revoke(user=request.user, token_id=token_id)
    return Status(204, None)

"""Access rules: which workspaces a user is in and what their role lets them do."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import ApiToken, Membership, Role, Workspace, hash_token

# A token's last use is recorded at most this often: a write on every call would make every API
# call a writer (on SQLite, one at a time behind the database's single write lock).
TOKEN_USE_PRECISION = timedelta(seconds=60)


class PermissionDenied(Exception):
    """The user can see the object but their role does not allow the action."""


def workspaces_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user)


def membership_for(*, user, workspace_id: int) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, workspace_id=workspace_id).first()


def require(*, user, workspace_id: int, permission: str) -> Membership:
    """Return the user's membership, or raise PermissionDenied if the role lacks `permission`."""
    membership = membership_for(user=user, workspace_id=workspace_id)
    if membership is None or not membership.can(permission):
        raise PermissionDenied(permission)
    return membership


def workspace_create(*, name: str, slug: str, owner) -> Workspace:
    workspace = Workspace.objects.create(name=name, slug=slug)
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def token_authenticate(raw: str):
    """Return the user owning an active token, or None."""
    if not raw:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    _token_record_use(token)
    return token.user


def _token_record_use(token: ApiToken) -> None:
    """Record that the token was used now, unless that was already recorded within a minute."""
    now = timezone.now()
    stale = now - TOKEN_USE_PRECISION
    if token.last_used_at is not None and token.last_used_at >= stale:
        return
    # Conditional, so of concurrent first calls one writes and the others change nothing.
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=token.pk
    ).update(last_used_at=now)

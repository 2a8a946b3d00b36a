"""Access rules: which workspaces a user is in and what their role lets them do."""

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from config.domain import Conflict, Invalid, NotAllowed, NotFound, Unauthenticated
from config.prepared import prepared_first

from .audit import record_audit
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
    """Return the user owning an active token, or None (unknown, revoked or expired)."""
    try:
        return token_check(raw)
    except Unauthenticated:
        return None


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def token_check(raw: str):
    """Return the user owning the token; None if no token has that value; raise Unauthenticated
    (with a message saying why) for a token that was revoked or has expired."""
    if not raw:
        return None
    # Compiled once (config.prepared): every API call with a token reads it.
    token = prepared_first(
        "token_check",
        lambda digest: (
            ApiToken.objects.select_related("user").filter(token_hash=digest).order_by("pk")[:1]
        ),
        hash_token(raw),
    )
    if token is None:
        return None
    if token.revoked_at is not None:
        raise Unauthenticated(
            f"This API token was revoked on {_when(token.revoked_at)}. Create a new one in "
            "Settings → API tokens.",
            reason="token_revoked",
        )
    if token.is_expired:
        raise Unauthenticated(
            f"This API token expired on {_when(token.expires_at)}. Create a new one in "
            "Settings → API tokens.",
            reason="token_expired",
        )
    if not token.user.is_active:
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


# ---- members ------------------------------------------------------------------------------------

ROLE_NAMES = {role.value: role.label for role in Role}


def _storable(value: str, what: str) -> str:
    """`value` stripped, if the database can store and compare it (no NUL, no lone surrogate)."""
    value = (value or "").strip()
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise Invalid(f"{what} contains characters that cannot be stored.", code="invalid_text")
    return value


def _manager(*, actor, workspace_id: int) -> Membership:
    """The actor's membership if they may manage the workspace: NotFound outside it, NotAllowed
    for a role below owner."""
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=actor, workspace_id=workspace_id)
        .first()
        if actor.is_authenticated
        else None
    )
    if membership is None:
        raise NotFound("Workspace not found")
    if not membership.can("manage"):
        raise NotAllowed("Only the workspace's owners can change its settings.")
    return membership


def _role(role: str) -> str:
    if role not in ROLE_NAMES:
        raise Invalid(
            f"Choose a role: {', '.join(label.lower() for label in ROLE_NAMES.values())}.",
            code="invalid_role",
        )
    return role


def _find_user(who: str):
    who = _storable(who, "The username or email")
    if not who:
        raise Invalid("Type the username or email of the person to add.", code="user_required")
    users = get_user_model().objects.filter(is_active=True)
    found = users.filter(username__iexact=who).first()
    if found is None and "@" in who:
        matches = list(users.filter(email__iexact=who)[:2])
        if len(matches) > 1:
            raise Invalid(
                "Several people use that email; type their username instead.",
                code="user_ambiguous",
            )
        found = matches[0] if matches else None
    if found is None:
        raise Invalid(
            "No user with that username or email. They need an account first; ask an "
            "administrator to create one.",
            code="user_not_found",
        )
    return found


def member_invite(*, actor, workspace_id: int, who: str, role: str) -> Membership:
    """Add an existing user (by username or email) to the workspace with a role."""
    manager = _manager(actor=actor, workspace_id=workspace_id)
    role = _role(role)
    user = _find_user(who)
    with transaction.atomic():
        if Membership.objects.filter(workspace_id=workspace_id, user=user).exists():
            raise Conflict(
                f"{user.get_username()} is already a member of this workspace.",
                code="already_member",
            )
        membership = Membership.objects.create(workspace_id=workspace_id, user=user, role=role)
        record_audit(
            workspace=manager.workspace,
            actor=actor,
            action="member.added",
            target=user.get_username(),
            detail={"role": role},
        )
    return membership


def _member(workspace_id: int, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(pk=membership_id, workspace_id=workspace_id)
        .first()
    )
    if membership is None:
        raise NotFound("That person is not a member of this workspace.", code="member_not_found")
    return membership


def _keep_an_owner(membership: Membership, doing: str) -> None:
    """Refuse to leave the workspace without an owner (owners' rows are locked first)."""
    if membership.role != Role.OWNER:
        return
    owners = list(
        Membership.objects.select_for_update()
        .filter(workspace_id=membership.workspace_id, role=Role.OWNER)
        .values_list("pk", flat=True)
    )
    if owners == [membership.pk]:
        raise Conflict(
            f"You cannot {doing} the last owner: make someone else an owner first.",
            code="last_owner",
        )


def member_set_role(*, actor, workspace_id: int, membership_id: int, role: str) -> Membership:
    """Change a member's role; the last owner cannot be demoted."""
    manager = _manager(actor=actor, workspace_id=workspace_id)
    role = _role(role)
    with transaction.atomic():
        membership = _member(workspace_id, membership_id)
        old = membership.role
        if old == role:
            return membership
        if role != Role.OWNER:
            _keep_an_owner(membership, "demote")
        membership.role = role
        membership.save(update_fields=["role"])
        record_audit(
            workspace=manager.workspace,
            actor=actor,
            action="member.role_changed",
            target=membership.user.get_username(),
            detail={"from": old, "to": role},
        )
    return membership


def member_remove(*, actor, workspace_id: int, membership_id: int) -> str:
    """Remove a member from the workspace; return their username. The last owner stays."""
    manager = _manager(actor=actor, workspace_id=workspace_id)
    with transaction.atomic():
        membership = _member(workspace_id, membership_id)
        _keep_an_owner(membership, "remove")
        username = membership.user.get_username()
        role = membership.role
        membership.delete()
        record_audit(
            workspace=manager.workspace,
            actor=actor,
            action="member.removed",
            target=username,
            detail={"role": role},
        )
    return username


# ---- API tokens ---------------------------------------------------------------------------------

TOKEN_EXPIRY_CHOICES = {"never": None, "7": 7, "30": 30, "90": 90}
MAX_TOKEN_DAYS = 3660
MAX_TOKENS_PER_USER = 100


def token_expiry(*, choice: str, custom: str = "", now: datetime | None = None) -> datetime | None:
    """When a token chosen as "never" / "7" / "30" / "90" days / "custom" (an ISO date) expires.

    A custom date expires at the end of that day (UTC), and must be in the future.
    """
    now = now or timezone.now()
    if choice in TOKEN_EXPIRY_CHOICES:
        days = TOKEN_EXPIRY_CHOICES[choice]
        return None if days is None else now + timedelta(days=days)
    if choice != "custom":
        raise Invalid("Choose when the token expires.", code="invalid_expiry")
    try:
        day = datetime.strptime((custom or "").strip()[:10], "%Y-%m-%d").date()
    except ValueError as exc:
        raise Invalid("Pick the day the token expires.", code="invalid_expiry") from exc
    end = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    if end <= now:
        raise Invalid("The expiry date must be in the future.", code="invalid_expiry")
    if end > now + timedelta(days=MAX_TOKEN_DAYS):
        raise Invalid("A token can be valid for at most ten years.", code="invalid_expiry")
    return end


def _audit_everywhere(*, user, action: str, target: str, detail: dict[str, Any]) -> None:
    """A personal token reaches every workspace its owner is in: each owner sees it logged."""
    for workspace in workspaces_for(user):
        record_audit(workspace=workspace, actor=user, action=action, target=target, detail=detail)


def token_create(*, user, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Issue a personal API token; return it and its raw value (shown once, stored hashed)."""
    name = _storable(name, "The name")
    if not name:
        raise Invalid("Give the token a name, e.g. where it will be used.", code="name_required")
    if len(name) > 100:
        raise Invalid("Keep the name under 100 characters.", code="name_too_long")
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid("The expiry must be in the future.", code="invalid_expiry")
    with transaction.atomic():
        active = ApiToken.objects.filter(user=user, revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )
        if active.count() >= MAX_TOKENS_PER_USER:
            raise Conflict(
                f"You already have {MAX_TOKENS_PER_USER} active tokens; revoke some first.",
                code="too_many_tokens",
            )
        token, raw = ApiToken.issue(user=user, name=name, expires_at=expires_at)
        _audit_everywhere(
            user=user,
            action="token.created",
            target=name,
            detail={
                "prefix": token.prefix,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return token, raw


def tokens_of(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def token_revoke(*, user, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens (idempotent); NotFound for anyone else's."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
        if token is None:
            raise NotFound("Token not found", code="not_found")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            _audit_everywhere(
                user=user,
                action="token.revoked",
                target=token.name,
                detail={"prefix": token.prefix},
            )
    return token


# ---- workspace defaults -------------------------------------------------------------------------

MAX_DEFAULT_COST = 10_000
MAX_DEFAULT_TOKENS = 10**9


def workspace_defaults_update(
    *,
    actor,
    workspace_id: int,
    default_model: str,
    max_cost: float | None,
    max_tokens: int | None,
) -> Workspace:
    """Set the model and per-run budgets that runs started without their own use."""
    manager = _manager(actor=actor, workspace_id=workspace_id)
    default_model = _storable(default_model, "The model name")
    if len(default_model) > 200 or any(c.isspace() for c in default_model):
        raise Invalid(
            "Type a model as provider/model (e.g. openai/gpt-4o-mini), without spaces.",
            code="invalid_model",
        )
    if max_cost is not None and not 0 < max_cost <= MAX_DEFAULT_COST:
        raise Invalid(
            f"The cost limit must be more than $0 and at most ${MAX_DEFAULT_COST:,}.",
            code="invalid_budget",
        )
    if max_tokens is not None and not 0 < max_tokens <= MAX_DEFAULT_TOKENS:
        raise Invalid(
            f"The token limit must be between 1 and {MAX_DEFAULT_TOKENS:,}.",
            code="invalid_budget",
        )
    with transaction.atomic():
        workspace = Workspace.objects.select_for_update().get(pk=manager.workspace_id)
        before = {
            "default_model": workspace.default_model,
            "max_cost": workspace.default_max_cost,
            "max_tokens": workspace.default_max_tokens,
        }
        after = {"default_model": default_model, "max_cost": max_cost, "max_tokens": max_tokens}
        if before == after:
            return workspace
        workspace.default_model = default_model
        workspace.default_max_cost = max_cost
        workspace.default_max_tokens = max_tokens
        workspace.save(update_fields=["default_model", "default_max_cost", "default_max_tokens"])
        record_audit(
            workspace=workspace,
            actor=actor,
            action="defaults.changed",
            target=workspace.name,
            detail={
                "from": {k: v for k, v in before.items() if before[k] != after[k]},
                "to": {k: v for k, v in after.items() if before[k] != after[k]},
            },
        )
    return workspace


def audit_events(*, actor, workspace_id: int, action: str = ""):
    """The workspace's audit log, newest first, for its owners."""
    from .models import AuditEvent

    _manager(actor=actor, workspace_id=workspace_id)
    events = AuditEvent.objects.filter(workspace_id=workspace_id).select_related("actor")
    action = _storable(action, "The action")
    if action:
        events = events.filter(action=action)
    return events.order_by("-created_at", "-id")

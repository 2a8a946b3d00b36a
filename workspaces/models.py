"""Workspaces, memberships with roles, and personal API tokens."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    APPROVER = "approver", "Approver"
    VIEWER = "viewer", "Viewer"


# What each role may do. Approvers also read; editors read, edit and run; owners do everything.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({"read"}),
    Role.APPROVER: frozenset({"read", "approve"}),
    Role.EDITOR: frozenset({"read", "edit", "run", "approve"}),
    Role.OWNER: frozenset({"read", "edit", "run", "approve", "manage"}),
}


class Workspace(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Defaults for runs started without their own: blank/None means "the server's default".
    default_model = models.CharField(max_length=200, blank=True, default="")
    default_max_cost = models.FloatField(null=True, blank=True)
    default_max_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    # Runs of this workspace running at once; more wait, queued, for a slot. Empty: the
    # SWITCHBOARD_MAX_RUNNING_RUNS setting; 0: no cap.
    max_running_runs = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many runs may run at once (more wait in the queue). Empty: the "
        "server's default; 0: no cap.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="uniq_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())


TOKEN_PREFIX = "sb_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal API token. Only its hash is stored; the raw value is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, *, user, name: str, expires_at=None) -> tuple["ApiToken", str]:
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=raw[:10],
            token_hash=hash_token(raw),
            expires_at=expires_at,
        )
        return token, raw

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired


class AuditEvent(models.Model):
    """One change to a workspace's settings: who did what to which thing, and when.

    `detail` holds what changed (old and new role, a token's name and expiry, a budget), never a
    secret value.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="audit_ws_created"),
            models.Index(fields=["workspace", "action", "-created_at"], name="audit_ws_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target} in {self.workspace_id}"

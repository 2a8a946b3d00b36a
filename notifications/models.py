"""Who is told what: per-user preferences, the workspace's outgoing webhook, and a log of every
notification (which also makes each one happen once)."""

from django.conf import settings
from django.db import models
from django.utils.timezone import now


class Kind(models.TextChoices):
    APPROVAL = "approval", "An approval or a task is waiting for me"
    FAILURE = "failure", "A run I started failed"
    BUDGET = "budget", "A budget alert"


class Preference(models.Model):
    """One person's email choices in one workspace (no row: everything on)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs"
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="notification_prefs"
    )
    email_approval = models.BooleanField(default=True)
    email_failure = models.BooleanField(default=True)
    email_budget = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="uniq_notification_pref")
        ]

    def wants(self, kind: str) -> bool:
        return bool(getattr(self, f"email_{kind}", False))


class WorkspaceWebhook(models.Model):
    """The workspace's outgoing webhook (Slack-compatible JSON). Its URL is a vault credential,
    named here: a Slack hook URL is a secret (anyone with it can post to the channel)."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="notification_webhook"
    )
    credential = models.CharField(max_length=64)
    kinds = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=8)  # "email" or "webhook"
    recipient = models.CharField(max_length=254)  # an email address, or "workspace webhook"
    # What it is about, e.g. "approval:12:email:ann@example.com": unique, so it happens once.
    key = models.CharField(max_length=400, unique=True)
    subject = models.CharField(max_length=300)
    link = models.CharField(max_length=500, blank=True)
    run = models.ForeignKey("runs.Run", null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

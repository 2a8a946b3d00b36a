"""What starts runs besides people: schedules (cron) and incoming webhooks."""

import secrets

from django.conf import settings
from django.db import models
from django.utils.timezone import now


class Missed(models.TextChoices):
    ONCE = "once", "Run once to catch up"
    SKIP = "skip", "Skip missed runs"


class Schedule(models.Model):
    """Start a run of the flow's published version on a cron expression, in a time zone."""

    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=120, blank=True)
    cron = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, default="UTC")
    inputs = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    missed = models.CharField(max_length=8, choices=Missed.choices, default=Missed.ONCE)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="schedule_due")]

    def __str__(self) -> str:
        return f"{self.cron} ({self.timezone}) for flow {self.flow_id}"


def new_public_id() -> str:
    return secrets.token_urlsafe(18)


def new_salt() -> str:
    return secrets.token_hex(8)


class Webhook(models.Model):
    """A flow's incoming webhook: POST a signed JSON body to start a run.

    The signing secret is not stored: it is derived from SECRET_KEY, the public id and a salt
    (see `triggers.signing`); regenerating it changes the salt.
    """

    flow = models.OneToOneField("builder.Flow", on_delete=models.CASCADE, related_name="webhook")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id)
    salt = models.CharField(max_length=32, default=new_salt)
    enabled = models.BooleanField(default=True)
    # input field -> JMESPath expression over the request body; empty: the body is the inputs.
    mapping = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    last_called_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook {self.public_id} for flow {self.flow_id}"

"""Credentials (encrypted, per workspace) and the model providers a workspace adds itself."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from workspaces.models import Workspace

# Credentials are named like template variables: `{{ secrets.weather_api }}`.
CREDENTIAL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
PROVIDER_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"


class Credential(models.Model):
    """A secret value, encrypted at rest. Flows refer to it by name; its value is never shown."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(
        max_length=64,
        validators=[RegexValidator(CREDENTIAL_NAME_PATTERN)],
        help_text="Lowercase letters, digits and underscores; flows write {{ secrets.<name> }}.",
    )
    encrypted_value = models.TextField()
    description = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_credential_name")
        ]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Credential {self.workspace_id}/{self.name}>"


class Tier(models.TextChoices):
    SMALL = "small", "Small"
    MEDIUM = "medium", "Medium"
    LARGE = "large", "Large"


class Provider(models.Model):
    """An OpenAI-compatible endpoint added in the UI; prompts address its models as name/model."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="providers")
    name = models.CharField(max_length=40, validators=[RegexValidator(PROVIDER_NAME_PATTERN)])
    base_url = models.URLField(max_length=500)
    credential = models.ForeignKey(
        Credential,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="providers",
        help_text="The API key, sent as a Bearer token.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_provider_name")
        ]

    def __str__(self) -> str:
        return self.name


class ProviderModel(models.Model):
    """One model a provider serves, with its price per million tokens."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=100)
    input_price = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    output_price = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    tier = models.CharField(max_length=8, choices=Tier.choices, default=Tier.MEDIUM)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="uniq_provider_model")
        ]

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.name}"

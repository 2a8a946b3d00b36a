"""Model providers a workspace adds: checked by the SSRF guard, addressed as name/model."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.domain import Conflict, Invalid, NotFound
from runs.engine.catalogue import CatalogueModel, build_catalogue, provider_models
from runs.engine.secrets import UnknownSecret
from runs.tools.addresses import check_url
from runs.tools.base import ToolError

from .. import crypto
from ..logging import remember
from ..models import PROVIDER_NAME_PATTERN, Credential, Provider, ProviderModel, Tier
from .access import audit, require_member
from .credentials import record_use

MAX_MODELS = 50

_PROVIDER_NAME = re.compile(PROVIDER_NAME_PATTERN)


def env_providers() -> dict[str, dict[str, Any]]:
    """The providers configured in settings (read-only in the UI)."""
    return settings.SWITCHBOARD_PROVIDERS


def server_providers() -> list[dict[str, Any]]:
    """The providers configured on the server, as read-only rows (never their key)."""
    rows = []
    for name, config in env_providers().items():
        variable = config.get("api_key_env") or ""
        rows.append(
            {
                "name": name,
                "base_url": config.get("base_url", ""),
                "key": (
                    f"{variable} ({'set' if os.environ.get(variable) else 'not set'})"
                    if variable
                    else "No key needed"
                ),
                "models": [
                    {
                        "name": m.model,
                        "input": m.input_price,
                        "output": m.output_price,
                        "tier": m.tier,
                        "context_window": m.context_window,
                    }
                    for m in provider_models(
                        name, config, getattr(settings, "SWITCHBOARD_TIER_PRICES", None)
                    )
                ],
            }
        )
    return rows


def check_base_url(url: str) -> None:
    """Refuse a base URL the SSRF guard would not let a call reach. Raises Invalid."""
    try:
        check_url(url, allow_loopback=getattr(settings, "SWITCHBOARD_ALLOW_LOOPBACK", False))
    except ToolError as exc:
        code = "blocked_address" if exc.code == "blocked_address" else "invalid_base_url"
        message = exc.message
        if exc.code == "blocked_address":
            message = (
                "This address is on a private, local or reserved network, which model providers "
                "added here may not reach. Use the provider's public URL."
            )
        raise Invalid(message, code=code) from None


def _price(value: Any, what: str) -> Decimal:
    try:
        price = Decimal(str(value if value not in (None, "") else 0))
    except (InvalidOperation, ValueError):
        raise Invalid(f"{what} must be a number.", code="invalid_model") from None
    if not price.is_finite() or price < 0 or price >= Decimal(1_000_000):
        raise Invalid(f"{what} must be between 0 and 999,999.", code="invalid_model")
    return price.quantize(Decimal("0.0001"))


def _clean_models(models: Iterable[dict[str, Any]]) -> list[ProviderModel]:
    cleaned: list[ProviderModel] = []
    seen: set[str] = set()
    for item in models:
        name = str(item.get("name") or "").strip()
        if not name:
            continue
        if len(name) > 100:
            raise Invalid(f"The model name “{name[:40]}” is too long.", code="invalid_model")
        if name in seen:
            raise Invalid(f"The model “{name}” is listed twice.", code="invalid_model")
        seen.add(name)
        window = item.get("context_window")
        if window in ("", None):
            window = None
        else:
            try:
                window = int(window)
            except (TypeError, ValueError):
                raise Invalid(
                    f"{name}: the context window is a whole number of tokens.", code="invalid_model"
                ) from None
            if not 0 < window <= 100_000_000:
                raise Invalid(f"{name}: the context window is out of range.", code="invalid_model")
        tier = item.get("tier") or Tier.MEDIUM
        if tier not in Tier.values:
            raise Invalid(f"{name}: the tier is small, medium or large.", code="invalid_model")
        cleaned.append(
            ProviderModel(
                name=name,
                input_price=_price(item.get("input_price"), f"{name}: the input price"),
                output_price=_price(item.get("output_price"), f"{name}: the output price"),
                context_window=window,
                tier=tier,
            )
        )
    if not cleaned:
        raise Invalid("List at least one model the provider serves.", code="invalid_model")
    if len(cleaned) > MAX_MODELS:
        raise Invalid(f"A provider lists at most {MAX_MODELS} models.", code="too_large")
    return cleaned


def _provider_name(name: Any) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not _PROVIDER_NAME.match(name):
        raise Invalid(
            "A provider name starts with a lowercase letter and has only lowercase letters, "
            "digits, - and _ (at most 40), like acme or my-vllm.",
            code="invalid_name",
        )
    if name in env_providers():
        raise Invalid(
            f"“{name}” is a provider configured on the server; choose another name.",
            code="invalid_name",
        )
    return name


def _credential_for(workspace_id: int, credential_id: int | None) -> Credential | None:
    if credential_id is None:
        return None
    credential = Credential.objects.filter(pk=credential_id, workspace_id=workspace_id).first()
    if credential is None:
        raise Invalid("Choose one of this workspace's credentials as the key.", code="invalid_key")
    return credential


def credential_id_named(*, user, workspace_id: int, name: str | None) -> int | None:
    """The id of the workspace's credential called `name` (None for no name). Raises Invalid."""
    if not name:
        return None
    require_member(user=user, workspace_id=workspace_id, write=False)
    found = (
        Credential.objects.filter(workspace_id=workspace_id, name=name)
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        raise Invalid(f"There is no credential called “{name[:64]}”.", code="invalid_key")
    return found


def provider_list(*, user, workspace_id: int) -> list[Provider]:
    require_member(user=user, workspace_id=workspace_id, write=False)
    return list(
        Provider.objects.filter(workspace_id=workspace_id)
        .select_related("credential")
        .prefetch_related("models")
    )


def provider_get(*, user, workspace_id: int, provider_id: int) -> Provider:
    require_member(user=user, workspace_id=workspace_id, write=False)
    provider = (
        Provider.objects.filter(pk=provider_id, workspace_id=workspace_id)
        .select_related("credential")
        .first()
    )
    if provider is None:
        raise NotFound("Provider not found")
    return provider


def _audit_detail(provider: Provider, models: list[ProviderModel]) -> dict[str, Any]:
    return {
        "base_url": provider.base_url,
        "credential": provider.credential.name if provider.credential else None,
        "models": [m.name for m in models],
    }


def provider_create(
    *,
    user,
    workspace_id: int,
    name: str,
    base_url: str,
    credential_id: int | None,
    models: Iterable[dict[str, Any]],
) -> Provider:
    require_member(user=user, workspace_id=workspace_id, write=True)
    name = _provider_name(name)
    base_url = (base_url or "").strip()
    check_base_url(base_url)
    credential = _credential_for(workspace_id, credential_id)
    cleaned = _clean_models(models)
    try:
        with transaction.atomic():
            provider = Provider.objects.create(
                workspace_id=workspace_id,
                name=name,
                base_url=base_url,
                credential=credential,
                created_by=user,
            )
            for model in cleaned:
                model.provider = provider
            ProviderModel.objects.bulk_create(cleaned)
            audit(
                workspace_id=workspace_id,
                actor=user,
                action="provider.created",
                target=name,
                detail=_audit_detail(provider, cleaned),
            )
    except IntegrityError:
        raise Conflict(
            f"There is already a provider called “{name}”.", code="duplicate_name"
        ) from None
    return provider


def provider_update(
    *,
    user,
    workspace_id: int,
    provider_id: int,
    base_url: str,
    credential_id: int | None,
    models: Iterable[dict[str, Any]],
) -> Provider:
    """Change a provider's URL, key and models (its name is what flows use: it stays)."""
    provider = provider_get(user=user, workspace_id=workspace_id, provider_id=provider_id)
    require_member(user=user, workspace_id=workspace_id, write=True)
    base_url = (base_url or "").strip()
    check_base_url(base_url)
    provider.credential = _credential_for(workspace_id, credential_id)
    provider.base_url = base_url
    provider.updated_at = timezone.now()
    cleaned = _clean_models(models)
    with transaction.atomic():
        provider.save(update_fields=["base_url", "credential", "updated_at"])
        provider.models.all().delete()
        for model in cleaned:
            model.provider = provider
        ProviderModel.objects.bulk_create(cleaned)
        audit(
            workspace_id=workspace_id,
            actor=user,
            action="provider.updated",
            target=provider.name,
            detail=_audit_detail(provider, cleaned),
        )
    return provider


def provider_delete(*, user, workspace_id: int, provider_id: int) -> None:
    provider = provider_get(user=user, workspace_id=workspace_id, provider_id=provider_id)
    require_member(user=user, workspace_id=workspace_id, write=True)
    with transaction.atomic():
        provider.delete()
        audit(
            workspace_id=workspace_id, actor=user, action="provider.deleted", target=provider.name
        )


def provider_config(*, workspace_id: int, name: str) -> dict[str, Any] | None:
    """The provider called `name` in the workspace, as the model client addresses providers
    (the shape of a SWITCHBOARD_PROVIDERS entry; the key is read at call time), or None."""
    provider = (
        Provider.objects.filter(workspace_id=workspace_id, name=name)
        .prefetch_related("models")
        .first()
    )
    if provider is None:
        return None
    return {
        "base_url": provider.base_url,
        "credential_id": provider.credential_id,
        "workspace_id": workspace_id,
        # Checked by the SSRF guard before every call, as when it was saved.
        "guarded": True,
        "models": {
            m.name: {
                "input": float(m.input_price),
                "output": float(m.output_price),
                "context_window": m.context_window,
                "tier": m.tier,
            }
            for m in provider.models.all()
        },
    }


def provider_names(workspace_id: int) -> list[str]:
    return list(Provider.objects.filter(workspace_id=workspace_id).values_list("name", flat=True))


def provider_key(credential_id: int) -> str:
    """Decrypt a provider's API key for the SDK client being built now."""
    row = (
        Credential.objects.filter(pk=credential_id)
        .values_list("pk", "encrypted_value", "last_used_at")
        .first()
    )
    if row is None:
        raise UnknownSecret("The provider's key credential was deleted.")
    try:
        value = crypto.decrypt(row[1])
    except crypto.EncryptionKeyError as exc:
        raise UnknownSecret(f"The provider's key cannot be read: {exc}") from None
    remember(f"provider_key_{row[0]}", value)
    record_use(row[0], row[2])
    return value


def model_catalogue(workspace_id: int | None) -> list[CatalogueModel]:
    """Every model the workspace may use, with tier, price per million tokens and context window:
    the server's providers (settings), then the workspace's own. Ordered small to large, then by
    price. Reads the database once."""
    providers: list[tuple[str, dict[str, Any]]] = list(env_providers().items())
    if workspace_id is not None:
        rows = Provider.objects.filter(workspace_id=workspace_id).prefetch_related("models")
        for provider in rows:
            providers.append(
                (
                    provider.name,
                    {
                        "models": {
                            m.name: {
                                "input": float(m.input_price),
                                "output": float(m.output_price),
                                "context_window": m.context_window,
                                "tier": m.tier,
                            }
                            for m in provider.models.all()
                        }
                    },
                )
            )
    return build_catalogue(providers, getattr(settings, "SWITCHBOARD_TIER_PRICES", None))

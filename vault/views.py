"""Settings pages for credentials and model providers. Thin: parse the form, call a service.

Values are write-only: a form field takes one, no page ever renders one (not even back into the
form after an error), and "Replace" stands where "Edit" would.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from config.domain import DomainError
from workspaces.models import Membership
from workspaces.views_settings import (
    _back,
    _db_id,
    _fail,
    settings_context,
    settings_membership,
)

from . import services
from .models import Tier

CREDENTIALS_TEMPLATE = "vault/credentials.html"
PROVIDERS_TEMPLATE = "vault/providers.html"
BLANK_MODEL_ROWS = 3


def _no_store(response: HttpResponse) -> HttpResponse:
    # A page answering a form that carried a value: no cache keeps it.
    response["Cache-Control"] = "no-store"
    return response


# ---- credentials --------------------------------------------------------------------------------


def _credentials_context(request: HttpRequest, membership: Membership, **extra: Any) -> dict:
    credentials = services.credential_list(user=request.user, workspace_id=membership.workspace_id)
    in_use: dict[int, list[str]] = {}
    for provider in services.provider_list(user=request.user, workspace_id=membership.workspace_id):
        if provider.credential_id:
            in_use.setdefault(provider.credential_id, []).append(provider.name)
    rows = [{"credential": c, "providers": in_use.get(c.pk, [])} for c in credentials]
    return settings_context(
        request,
        membership,
        "credentials",
        rows=rows,
        can_edit=membership.can("edit"),
        **{"form": {"name": "", "description": ""}, **extra},
    )


@login_required
@require_GET
def credentials(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    return render(request, CREDENTIALS_TEMPLATE, _credentials_context(request, membership))


@login_required
@require_POST
def credential_create(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    form = {
        "name": request.POST.get("name", "").strip()[:100],
        "description": request.POST.get("description", "").strip()[:400],
    }
    try:
        credential = services.credential_create(
            user=request.user,
            workspace_id=membership.workspace_id,
            name=form["name"],
            value=request.POST.get("value", ""),
            description=form["description"],
        )
    except DomainError as exc:
        context = _credentials_context(request, membership, form=form)
        return _no_store(_fail(request, exc, CREDENTIALS_TEMPLATE, context))
    notice = (
        f"Saved “{credential.name}”. Use it in a Tool node's arguments as "
        f"{{{{ secrets.{credential.name} }}}}; its value will not be shown again."
    )
    return _back(request, "vault:credentials", membership.workspace_id, notice)


@login_required
@require_POST
def credential_replace(request: HttpRequest, workspace_id: int, credential_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    description = request.POST.get("description")
    try:
        credential = services.credential_replace(
            user=request.user,
            workspace_id=membership.workspace_id,
            credential_id=_db_id(credential_id),
            value=request.POST.get("value") or None,
            description=description[:400] if description is not None else None,
        )
    except DomainError as exc:
        context = _credentials_context(request, membership, replacing=credential_id)
        return _no_store(_fail(request, exc, CREDENTIALS_TEMPLATE, context))
    return _back(
        request, "vault:credentials", membership.workspace_id, f"Updated “{credential.name}”."
    )


@login_required
@require_POST
def credential_delete(request: HttpRequest, workspace_id: int, credential_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    try:
        credential = services.credential_get(
            user=request.user,
            workspace_id=membership.workspace_id,
            credential_id=_db_id(credential_id),
        )
        services.credential_delete(
            user=request.user, workspace_id=membership.workspace_id, credential_id=credential.pk
        )
    except DomainError as exc:
        return _fail(request, exc, CREDENTIALS_TEMPLATE, _credentials_context(request, membership))
    notice = f"Deleted “{credential.name}”. Flows that use it now fail at that step."
    return _back(request, "vault:credentials", membership.workspace_id, notice)


# ---- model providers ----------------------------------------------------------------------------


def _model_rows(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return models + [{"tier": Tier.MEDIUM} for _ in range(BLANK_MODEL_ROWS)]


def _posted_models(request: HttpRequest) -> list[dict[str, Any]]:
    columns = {
        key: request.POST.getlist(f"model_{key}")[: services.MAX_MODELS + 10]
        for key in ("name", "input_price", "output_price", "context_window", "tier")
    }
    count = max((len(values) for values in columns.values()), default=0)
    rows = []
    for i in range(count):
        row = {
            key: (values[i].strip()[:120] if i < len(values) else "")
            for key, values in columns.items()
        }
        if any(row[k] for k in ("name", "input_price", "output_price", "context_window")):
            rows.append(row)
    return rows


def _provider_form(provider) -> dict[str, Any]:
    return {
        "id": provider.pk,
        "name": provider.name,
        "base_url": provider.base_url,
        "credential_id": provider.credential_id,
        "models": _model_rows(
            [
                {
                    "name": m.name,
                    "input_price": f"{m.input_price.normalize():f}",
                    "output_price": f"{m.output_price.normalize():f}",
                    "context_window": m.context_window or "",
                    "tier": m.tier,
                }
                for m in provider.models.all()
            ]
        ),
    }


def _providers_context(request: HttpRequest, membership: Membership, **extra: Any) -> dict:
    workspace_id = membership.workspace_id
    providers = services.provider_list(user=request.user, workspace_id=workspace_id)
    for provider in providers:
        provider.form_models = _provider_form(provider)["models"]
    return settings_context(
        request,
        membership,
        "providers",
        server_providers=services.server_providers(),
        providers=providers,
        credentials=services.credential_list(user=request.user, workspace_id=workspace_id),
        tiers=Tier.choices,
        can_edit=membership.can("edit"),
        **{"form": {"name": "", "base_url": "", "models": _model_rows([])}, **extra},
    )


def _credential_choice(request: HttpRequest) -> int | None:
    raw = request.POST.get("credential", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


@login_required
@require_GET
def providers(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    return render(request, PROVIDERS_TEMPLATE, _providers_context(request, membership))


@login_required
@require_POST
def provider_create(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    models = _posted_models(request)
    form = {
        "name": request.POST.get("name", "").strip()[:100],
        "base_url": request.POST.get("base_url", "").strip()[:600],
        "credential_id": _credential_choice(request),
        "models": _model_rows(models),
    }
    try:
        provider = services.provider_create(
            user=request.user,
            workspace_id=membership.workspace_id,
            name=form["name"],
            base_url=form["base_url"],
            credential_id=form["credential_id"],
            models=models,
        )
    except DomainError as exc:
        context = _providers_context(request, membership, form=form)
        return _fail(request, exc, PROVIDERS_TEMPLATE, context)
    first = provider.models.order_by("name").values_list("name", flat=True).first()
    notice = f"Added “{provider.name}”. Prompts can use its models as {provider.name}/{first}."
    return _back(request, "vault:providers", membership.workspace_id, notice)


@login_required
@require_POST
def provider_update(request: HttpRequest, workspace_id: int, provider_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    try:
        provider = services.provider_update(
            user=request.user,
            workspace_id=membership.workspace_id,
            provider_id=_db_id(provider_id),
            base_url=request.POST.get("base_url", "").strip()[:600],
            credential_id=_credential_choice(request),
            models=_posted_models(request),
        )
    except DomainError as exc:
        context = _providers_context(request, membership, editing=provider_id)
        return _fail(request, exc, PROVIDERS_TEMPLATE, context)
    return _back(request, "vault:providers", membership.workspace_id, f"Saved “{provider.name}”.")


@login_required
@require_POST
def provider_delete(request: HttpRequest, workspace_id: int, provider_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    try:
        provider = services.provider_get(
            user=request.user, workspace_id=membership.workspace_id, provider_id=_db_id(provider_id)
        )
        services.provider_delete(
            user=request.user, workspace_id=membership.workspace_id, provider_id=provider.pk
        )
    except DomainError as exc:
        return _fail(request, exc, PROVIDERS_TEMPLATE, _providers_context(request, membership))
    notice = f"Deleted “{provider.name}”. Prompts that use its models now fail with no_provider."
    return _back(request, "vault:providers", membership.workspace_id, notice)

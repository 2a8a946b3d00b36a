"""Credentials (names out, values write-only in) and model providers of a workspace."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import StringConstraints

from config.schemas import StrictIn

from . import services
from .models import Credential, Provider

router = Router(tags=["credentials"])

WorkspaceId = Annotated[int, Field(gt=0, le=2**63 - 1)]
ObjectId = Annotated[int, Field(gt=0, le=2**63 - 1)]
Value = Annotated[str, StringConstraints(min_length=1, max_length=services.MAX_VALUE_CHARS)]


class CredentialIn(StrictIn):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    value: Value = Field(..., description="Write-only: stored encrypted, never returned.")
    description: Annotated[str, StringConstraints(max_length=300)] = ""


class CredentialReplaceIn(StrictIn):
    value: Value | None = Field(None, description="A new value; the old one is gone for good.")
    description: Annotated[str, StringConstraints(max_length=300)] | None = None


class CredentialOut(Schema):
    id: int
    name: str
    description: str
    reference: str = Field(..., description="What a Tool node's arguments write to use it.")
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


def _credential(credential: Credential) -> dict[str, Any]:
    return {
        "id": credential.pk,
        "name": credential.name,
        "description": credential.description,
        "reference": f"{{{{ secrets.{credential.name} }}}}",
        "created_by": credential.created_by.get_username() if credential.created_by else None,
        "created_at": credential.created_at,
        "updated_at": credential.updated_at,
        "last_used_at": credential.last_used_at,
    }


@router.get("/workspaces/{workspace_id}/credentials", response=list[CredentialOut])
def credential_list(request: HttpRequest, workspace_id: WorkspaceId):
    """The workspace's credentials: names and dates, never values (any member)."""
    return [
        _credential(c)
        for c in services.credential_list(user=request.user, workspace_id=workspace_id)
    ]


@router.post("/workspaces/{workspace_id}/credentials", response={201: CredentialOut})
def credential_create(request: HttpRequest, workspace_id: WorkspaceId, payload: CredentialIn):
    """Store a credential (owners and editors). The value is not in the answer."""
    credential = services.credential_create(
        user=request.user,
        workspace_id=workspace_id,
        name=payload.name,
        value=payload.value,
        description=payload.description,
    )
    return Status(201, _credential(credential))


@router.put("/workspaces/{workspace_id}/credentials/{credential_id}", response=CredentialOut)
def credential_replace(
    request: HttpRequest,
    workspace_id: WorkspaceId,
    credential_id: ObjectId,
    payload: CredentialReplaceIn,
):
    """Replace a credential's value and/or description (owners and editors)."""
    credential = services.credential_replace(
        user=request.user,
        workspace_id=workspace_id,
        credential_id=credential_id,
        value=payload.value,
        description=payload.description,
    )
    return _credential(credential)


@router.delete("/workspaces/{workspace_id}/credentials/{credential_id}", response={204: None})
def credential_delete(request: HttpRequest, workspace_id: WorkspaceId, credential_id: ObjectId):
    services.credential_delete(
        user=request.user, workspace_id=workspace_id, credential_id=credential_id
    )
    return Status(204, None)


class ModelIn(StrictIn):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    input_price: Annotated[float, Field(ge=0, lt=1_000_000)] = 0
    output_price: Annotated[float, Field(ge=0, lt=1_000_000)] = 0
    context_window: Annotated[int, Field(gt=0, le=100_000_000)] | None = None
    tier: Literal["small", "medium", "large"] = "medium"


class ProviderIn(StrictIn):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    base_url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    credential: str | None = Field(None, description="The name of the credential holding the key.")
    models: list[ModelIn] = Field(..., min_length=1, max_length=services.MAX_MODELS)


class ProviderUpdateIn(StrictIn):
    base_url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    credential: str | None = None
    models: list[ModelIn] = Field(..., min_length=1, max_length=services.MAX_MODELS)


class ModelOut(Schema):
    name: str
    model: str = Field(..., description="What a prompt's model field says: provider/model.")
    input_price: float | None
    output_price: float | None
    context_window: int | None = None
    tier: str | None = None


class ProviderOut(Schema):
    id: int | None = Field(None, description="None for providers configured on the server.")
    name: str
    base_url: str
    source: str = Field(..., description="workspace (editable here) or server (read-only).")
    credential: str | None = None
    models: list[ModelOut]


def _provider(provider: Provider) -> dict[str, Any]:
    return {
        "id": provider.pk,
        "name": provider.name,
        "base_url": provider.base_url,
        "source": "workspace",
        "credential": provider.credential.name if provider.credential else None,
        "models": [
            {
                "name": m.name,
                "model": f"{provider.name}/{m.name}",
                "input_price": float(m.input_price),
                "output_price": float(m.output_price),
                "context_window": m.context_window,
                "tier": m.tier,
            }
            for m in provider.models.all()
        ],
    }


def _models(payload: ProviderIn | ProviderUpdateIn) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "input_price": Decimal(str(m.input_price)),
            "output_price": Decimal(str(m.output_price)),
            "context_window": m.context_window,
            "tier": m.tier,
        }
        for m in payload.models
    ]


@router.get("/workspaces/{workspace_id}/providers", response=list[ProviderOut], tags=["providers"])
def provider_list(request: HttpRequest, workspace_id: WorkspaceId):
    """The workspace's own providers, then the server's (read-only). Keys are never listed."""
    own = [
        _provider(p) for p in services.provider_list(user=request.user, workspace_id=workspace_id)
    ]
    server = [
        {
            "id": None,
            "name": p["name"],
            "base_url": p["base_url"],
            "source": "server",
            "credential": None,
            "models": [
                {
                    "name": m["name"],
                    "model": f"{p['name']}/{m['name']}",
                    "input_price": m["input"],
                    "output_price": m["output"],
                }
                for m in p["models"]
            ],
        }
        for p in services.server_providers()
    ]
    return own + server


@router.post(
    "/workspaces/{workspace_id}/providers", response={201: ProviderOut}, tags=["providers"]
)
def provider_create(request: HttpRequest, workspace_id: WorkspaceId, payload: ProviderIn):
    """Add a provider (owners and editors). Its URL must pass the SSRF guard."""
    provider = services.provider_create(
        user=request.user,
        workspace_id=workspace_id,
        name=payload.name,
        base_url=payload.base_url,
        credential_id=services.credential_id_named(
            user=request.user, workspace_id=workspace_id, name=payload.credential
        ),
        models=_models(payload),
    )
    return Status(201, _provider(provider))


@router.put(
    "/workspaces/{workspace_id}/providers/{provider_id}", response=ProviderOut, tags=["providers"]
)
def provider_update(
    request: HttpRequest,
    workspace_id: WorkspaceId,
    provider_id: ObjectId,
    payload: ProviderUpdateIn,
):
    provider = services.provider_update(
        user=request.user,
        workspace_id=workspace_id,
        provider_id=provider_id,
        base_url=payload.base_url,
        credential_id=services.credential_id_named(
            user=request.user, workspace_id=workspace_id, name=payload.credential
        ),
        models=_models(payload),
    )
    return _provider(provider)


@router.delete(
    "/workspaces/{workspace_id}/providers/{provider_id}", response={204: None}, tags=["providers"]
)
def provider_delete(request: HttpRequest, workspace_id: WorkspaceId, provider_id: ObjectId):
    services.provider_delete(user=request.user, workspace_id=workspace_id, provider_id=provider_id)
    return Status(204, None)

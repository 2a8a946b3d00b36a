"""The models a flow can name: every configured provider's priced models, for the model picker."""

from django.http import HttpRequest
from ninja import Router, Schema

from .llm.providers import configured_providers, default_model

router = Router(tags=["models"])


class ModelOut(Schema):
    name: str
    provider: str
    model: str
    input_per_million: float | None
    output_per_million: float | None
    is_default: bool


@router.get("/models", response=list[ModelOut])
def models(request: HttpRequest):
    """List "provider/model" names with their price in USD per million tokens (keys never)."""
    default = default_model()
    if "/" not in default:
        default = f"openai/{default}"  # a bare name means the openai provider (see resolve)
    out = []
    for provider, config in sorted(configured_providers().items()):
        for model, price in sorted((config.get("models") or {}).items()):
            name = f"{provider}/{model}"
            price = price or {}
            out.append(
                {
                    "name": name,
                    "provider": provider,
                    "model": model,
                    "input_per_million": price.get("input"),
                    "output_per_million": price.get("output"),
                    "is_default": name == default,
                }
            )
    return out

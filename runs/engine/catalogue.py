"""The model catalogue: every model a workspace may address, with its tier, price and window.

Tiers are ordered small < medium < large. A workspace provider's model carries the tier chosen
in the providers UI; a model configured in settings may name its own (`"tier": "large"` next to
its prices in SWITCHBOARD_PROVIDERS), else it gets one from its price (`tier_for_price`, bands in
settings.SWITCHBOARD_TIER_PRICES).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

TIERS = ("small", "medium", "large")

#: Output price (USD per million tokens) below which a model is in a tier, cheapest first.
DEFAULT_TIER_PRICES = {"small": 1.0, "medium": 5.0}


def tier_rank(tier: str) -> int:
    """Return the tier's position (small 0, medium 1, large 2); unknown tiers count as medium."""
    return TIERS.index(tier) if tier in TIERS else 1


@dataclass(frozen=True)
class CatalogueModel:
    """One model a workspace may use."""

    name: str  # provider/model, as prompts address it
    provider: str
    model: str
    tier: str
    input_price: float  # USD per million tokens
    output_price: float
    context_window: int | None = None  # tokens; None: not known

    @property
    def rank(self) -> int:
        return tier_rank(self.tier)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CatalogueModel:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def tier_for_price(output_price: float, bands: Mapping[str, float] | None = None) -> str:
    """Return the tier a model's output price puts it in (bands: upper bounds per tier)."""
    bands = bands or DEFAULT_TIER_PRICES
    if output_price < float(bands.get("small", DEFAULT_TIER_PRICES["small"])):
        return "small"
    if output_price < float(bands.get("medium", DEFAULT_TIER_PRICES["medium"])):
        return "medium"
    return "large"


def _window(value: Any) -> int | None:
    try:
        window = int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return window if window and window > 0 else None


def provider_models(
    provider: str, config: Mapping[str, Any], bands: Mapping[str, float] | None = None
) -> list[CatalogueModel]:
    """Return the models of one provider config (a SWITCHBOARD_PROVIDERS entry's shape)."""
    models = []
    for model, price in (config.get("models") or {}).items():
        price = price or {}
        output = float(price.get("output") or 0)
        tier = price.get("tier")
        models.append(
            CatalogueModel(
                name=f"{provider}/{model}",
                provider=provider,
                model=model,
                tier=tier if tier in TIERS else tier_for_price(output, bands),
                input_price=float(price.get("input") or 0),
                output_price=output,
                context_window=_window(price.get("context_window")),
            )
        )
    return models


def build_catalogue(
    providers: Iterable[tuple[str, Mapping[str, Any]]], bands: Mapping[str, float] | None = None
) -> list[CatalogueModel]:
    """Return every model of the providers, ordered by tier, then price, then name.

    A provider name seen twice keeps its first config (the server's wins over a workspace's,
    as when calls resolve it).
    """
    seen: set[str] = set()
    models: list[CatalogueModel] = []
    for name, config in providers:
        if name in seen:
            continue
        seen.add(name)
        models.extend(provider_models(name, config, bands))
    return sorted(models, key=lambda m: (m.rank, m.input_price + m.output_price, m.name))

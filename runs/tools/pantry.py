"""The `pantry` tool: which of a recipe's ingredients the workspace's demo pantry has."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import Tool, ToolContext, ToolError

if TYPE_CHECKING:
    from runs.models import PantryItem

MAX_INGREDIENTS = 200
MAX_PANTRY_ITEMS = 5000

# Units we can convert between, to a base unit per kind. Anything else is compared by name only.
UNIT_FACTORS: dict[str, tuple[str, float]] = {
    "g": ("g", 1),
    "gram": ("g", 1),
    "kg": ("g", 1000),
    "kilogram": ("g", 1000),
    "mg": ("g", 0.001),
    "ml": ("ml", 1),
    "millilitre": ("ml", 1),
    "milliliter": ("ml", 1),
    "cl": ("ml", 10),
    "dl": ("ml", 100),
    "l": ("ml", 1000),
    "litre": ("ml", 1000),
    "liter": ("ml", 1000),
}


def normalise(name: str) -> str:
    """Fold case and spacing: " Olive  Oil " and "olive oil" are the same ingredient."""
    return re.sub(r"\s+", " ", name).strip().casefold()


def name_forms(name: str) -> set[str]:
    """Return a name with its simple singular forms ("eggs" → egg, "berries" → berry)."""
    word = normalise(name)
    forms = {word}
    if len(word) > 3 and word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if len(word) > 3 and word.endswith("es"):
        forms.add(word[:-2])
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])
    return forms


def _unit_key(unit: str) -> str | None:
    """Return the conversion-table key for a unit ("Grams" → gram), or None if it has none."""
    return next(
        (form for form in sorted(name_forms(unit.rstrip("."))) if form in UNIT_FACTORS), None
    )


@dataclass
class Wanted:
    name: str
    quantity: float | None = None
    unit: str = ""


def _parse(ingredient: str | dict) -> Wanted:
    if isinstance(ingredient, str):
        return Wanted(ingredient)
    return Wanted(ingredient["name"], ingredient.get("quantity"), ingredient.get("unit") or "")


def _comparable(
    have: float, have_unit: str, need: float, need_unit: str
) -> tuple[float, float] | None:
    """Return both quantities in one unit, or None when the units can't be compared."""
    have_key, need_key = _unit_key(have_unit), _unit_key(need_unit)
    if have_key and need_key:
        (have_base, have_factor), (need_base, need_factor) = (
            UNIT_FACTORS[have_key],
            UNIT_FACTORS[need_key],
        )
        return (have * have_factor, need * need_factor) if have_base == need_base else None
    if normalise(have_unit) == normalise(need_unit) or name_forms(have_unit) & name_forms(
        need_unit
    ):
        return have, need
    return None


def _shortfall(wanted: Wanted, item: PantryItem) -> str | None:
    """Say why the pantry's stock doesn't cover the ingredient, or None when it does."""
    if item.quantity <= 0:
        return "out of stock"
    if wanted.quantity is None:
        return None
    amounts = _comparable(item.quantity, item.unit, wanted.quantity, wanted.unit)
    if amounts is None:
        return None  # units that don't convert (e.g. "cups" vs "g"): trust that it's there
    have, need = amounts
    if have + 1e-9 < need:
        have_text = f"{item.quantity:g} {item.unit}".strip()
        need_text = f"{wanted.quantity:g} {wanted.unit}".strip()
        return f"not enough: have {have_text}, need {need_text}"
    return None


def _load_pantry(workspace_id: int) -> dict[str, PantryItem]:
    # Imported here: the registry must load without the ORM (e.g. in engine tests).
    from runs.models import PantryItem

    items = list(PantryItem.objects.filter(workspace_id=workspace_id)[:MAX_PANTRY_ITEMS])
    # Exact names first, so "eggs" finds the item "eggs" even when an item "egg" also exists.
    index: dict[str, Any] = {normalise(item.name): item for item in reversed(items)}
    for item in items:
        for form in sorted(name_forms(item.name)):
            index.setdefault(form, item)
    return index


def _find(index: dict[str, PantryItem], name: str) -> PantryItem | None:
    """Find the pantry item for an ingredient: its exact name first, then a singular form."""
    exact = normalise(name)
    if exact in index:
        return index[exact]
    return next((index[form] for form in sorted(name_forms(name)) if form in index), None)


def pantry(arguments: dict, context: ToolContext) -> dict[str, Any]:
    """Check each ingredient against the pantry and list what's available and what's missing."""
    if context.workspace_id is None:
        raise ToolError("tool_failed", "The pantry belongs to a workspace, and this call has none.")
    index = _load_pantry(context.workspace_id)
    available: list[str] = []
    missing: list[str] = []
    details: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ingredient in arguments["ingredients"]:
        wanted = _parse(ingredient)
        key = normalise(wanted.name)
        if not key or key in seen:
            continue
        seen.add(key)
        item = _find(index, wanted.name)
        reason = "not in the pantry" if item is None else _shortfall(wanted, item)
        (missing if reason else available).append(wanted.name.strip())
        detail: dict[str, Any] = {"name": wanted.name.strip(), "available": reason is None}
        if item is not None:
            detail["pantry"] = {"name": item.name, "quantity": item.quantity, "unit": item.unit}
        if reason:
            detail["reason"] = reason
        details.append(detail)
    return {
        "available": available,
        "missing": missing,
        "missing_count": len(missing),
        "all_available": not missing,
        "items": details,
    }


INGREDIENT = {
    "description": 'an ingredient name, or an object like {"name": "flour", "quantity": 200}',
    "oneOf": [
        {"type": "string", "minLength": 1, "maxLength": 100},
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "quantity": {"type": "number", "minimum": 0},
                "unit": {"type": "string", "maxLength": 20},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
    ],
}

TOOL = Tool(
    name="pantry",
    description=(
        "Check a recipe's ingredients against the workspace's pantry. Returns which are "
        "available, which are missing, and how many are missing."
    ),
    parameters={
        "type": "object",
        "properties": {
            "ingredients": {
                "type": "array",
                "items": INGREDIENT,
                "maxItems": MAX_INGREDIENTS,
                "description": 'Ingredient names, or objects like {"name": "flour", '
                '"quantity": 200, "unit": "g"}.',
            }
        },
        "required": ["ingredients"],
        "additionalProperties": False,
    },
    func=pantry,
    result_schema={
        "type": "object",
        "properties": {
            "available": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The ingredients the pantry has enough of.",
            },
            "missing": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The ingredients to buy.",
            },
            "missing_count": {"type": "integer", "minimum": 0},
            "all_available": {"type": "boolean"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "available": {"type": "boolean"},
                        "pantry": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "quantity": {"type": "number"},
                                "unit": {"type": "string"},
                            },
                            "required": ["name", "quantity", "unit"],
                            "additionalProperties": False,
                        },
                        "reason": {"type": "string"},
                    },
                    "required": ["name", "available"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["available", "missing", "missing_count", "all_available", "items"],
        "additionalProperties": False,
    },
)

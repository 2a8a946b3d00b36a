"""Filters for the evaluation pages."""

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def compact_json(value: Any) -> str:
    """A value as one line of text: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@register.filter
def rate(value: float | None) -> str:
    """A pass rate to a tenth of a point where it has one: "80%", "99.1%" (so two rates a
    point apart never both read "99%")."""
    if value is None:
        return "—"
    shown = f"{value * 100:.1f}"
    return f"{shown.removesuffix('.0')}%"


@register.filter
def cost_change(value: float | None) -> str:
    """A change of cost as a share of the left side's: "−66.4% cost", "+12.0% cost"."""
    if value is None:
        return "—"
    if value == 0:
        return "no change"
    return f"{'+' if value > 0 else '−'}{abs(value):.1f}% cost"


@register.filter
def points(value: float | None) -> str:
    """A change of pass rate in percentage points: "+5.0 points", "−20.0 points"."""
    if value is None:
        return "—"
    if value == 0:
        return "no change"
    return f"{'+' if value > 0 else '−'}{abs(value):.1f} points"

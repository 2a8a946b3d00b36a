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
def points(value: float | None) -> str:
    """A change of pass rate in percentage points: "+5.0 points", "−20.0 points"."""
    if value is None:
        return "—"
    if value == 0:
        return "no change"
    return f"{'+' if value > 0 else '−'}{abs(value):.1f} points"

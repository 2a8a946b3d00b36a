"""Configuration problems in plain language: "The user message is empty — write what the model
should do", not "prompt: String should have at least 1 character"."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from runs.engine.nodes import NodeType

# What to do about an empty or missing setting, by (node type, field).
HINTS: dict[tuple[str, str], str] = {
    ("prompt", "prompt"): "write what the model should do",
    ("tool", "tool"): "pick the tool to call",
    ("router", "routes"): "add at least one route",
    ("router", "prompt"): "write the text the model should classify",
    ("evaluator", "rules"): "add at least one rule",
    ("evaluator", "criteria"): "describe what a good answer looks like",
    ("output", "name"): "name the result, e.g. answer",
}
_KINDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "on or off (true or false)",
    "bool_type": "on or off (true or false)",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a set of named values (an object)",
    "model_type": "a set of named values (an object)",
}


def plain_message(err: ErrorDetails, node_type: type[NodeType]) -> str:
    """Say what is wrong with one setting, naming it as the inspector does."""
    loc = [part for part in err["loc"] if part != "__root__"]
    name = _setting_name(node_type.Config, loc)
    kind, ctx = err["type"], err.get("ctx") or {}
    hint = HINTS.get((node_type.type, str(loc[0]))) if loc else None
    if kind in ("missing", "string_too_short") and (
        kind == "missing" or ctx.get("min_length") == 1
    ):
        text = f"{name} is {'missing' if kind == 'missing' else 'empty'}"
        return f"{text} — {hint}." if hint else f"{text}."
    if kind == "too_short":
        if hint and ctx.get("min_length") == 1:
            return f"{name}: none yet — {hint}."
        return f"{name} must have at least {ctx.get('min_length')}."
    phrases = {
        "string_too_short": lambda: f"{name} needs at least {ctx.get('min_length')} characters.",
        "string_too_long": lambda: f"{name} is longer than {ctx.get('max_length')} characters.",
        "too_long": lambda: f"{name} has more than {ctx.get('max_length')} items.",
        "greater_than_equal": lambda: f"{name} must be at least {ctx.get('ge')}.",
        "greater_than": lambda: f"{name} must be more than {ctx.get('gt')}.",
        "less_than_equal": lambda: f"{name} must be at most {ctx.get('le')}.",
        "less_than": lambda: f"{name} must be less than {ctx.get('lt')}.",
        "literal_error": lambda: f"{name} must be one of: {ctx.get('expected')}.",
        "string_pattern_mismatch": lambda: f"{name} {_format(str(ctx.get('pattern', '')))}.",
        "extra_forbidden": lambda: f"“{loc[-1] if loc else ''}” is not a setting of this node.",
    }
    if kind in phrases:
        return phrases[kind]()
    if kind in _KINDS:
        return f"{name} must be {_KINDS[kind]}."
    message = str(err["msg"]).removeprefix("Value error, ")
    if not loc:
        return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    return f"{name} is not valid: {message}" + ("" if message.endswith(".") else ".")


def _format(pattern: str) -> str:
    if pattern.startswith("^[a-z]"):
        return "may use only lower-case letters, digits and _, starting with a letter"
    if pattern.startswith("^[A-Za-z_]"):
        return "may use only letters, digits and _, and must not start with a digit"
    return "is not in the expected format"


def _setting_name(config: type[BaseModel], loc: list[Any]) -> str:
    """Name a setting by its titles: "User message", "Route 1 → condition 2 → field"."""
    if not loc:
        return "This node"
    parts: list[str] = []
    model: Any = config
    for part in loc:
        if isinstance(part, int):
            if parts:
                parts[-1] = f"{parts[-1].removesuffix('s')} {part + 1}"
            continue
        is_model = isinstance(model, type) and issubclass(model, BaseModel)
        field = model.model_fields.get(part) if is_model else None
        if field is None:
            field = _by_alias(model, part)
        title = (field.title if field is not None and field.title else str(part)).replace("_", " ")
        parts.append(title if not parts else title.lower())
        model = _item_model(field.annotation) if field is not None else None
    text = " → ".join(parts)
    return f"The {text[:1].lower()}{text[1:]}" if len(parts) == 1 else text


def _by_alias(model: Any, name: str) -> Any:
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        return None
    return next((f for f in model.model_fields.values() if f.alias == name), None)


def _item_model(annotation: Any) -> Any:
    """The model a field holds, or the model of its list items (for nested titles)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _item_model(arg)
        if found is not None:
            return found
    return None

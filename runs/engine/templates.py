"""Sandboxed templates over run data.

Templates see only data (`inputs`, `nodes.<id>.output`, `feedback`, `iteration`, and in node types
that build outbound requests `secrets.<credential>`, see `secrets.py`); undefined names
are errors, and the sandbox refuses attribute access to internals such as `__class__`. Each render
has a budget of time, loop iterations and size, enforced while it renders (see `sandbox`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, Undefined, nodes
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import SecurityError

from .limits import EvaluationLimit, text_size
from .sandbox import MAX_VALUE_CHARS, BoundedSandbox, rendering

TEMPLATE_ROOTS = frozenset({"inputs", "nodes", "feedback", "iteration", "secrets"})
MAX_RENDERED_CHARS = 1_000_000


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _environment() -> BoundedSandbox:
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False)
    env.add_filter("tojson", _tojson)
    # The sandbox keeps range() but caps it; drop globals that are not data.
    for name in ("cycler", "joiner", "namespace", "lipsum", "dict"):
        env.globals.pop(name, None)
    return env


ENV = _environment()


class TemplateRenderError(Exception):
    """A template could not be rendered; the message is safe to show to the user."""


@contextmanager
def _readable_errors() -> Iterator[None]:
    """Turn anything a template can raise into a TemplateRenderError a person can read."""
    try:
        yield
    except EvaluationLimit as exc:
        raise TemplateRenderError(f"Template stopped: {exc}.") from exc
    except SecurityError as exc:
        raise TemplateRenderError(f"Template refused by the sandbox: {exc}") from exc
    except MemoryError as exc:
        raise TemplateRenderError("Template stopped: it ran out of memory.") from exc
    except (
        TemplateError,
        TypeError,
        ValueError,
        ArithmeticError,
        LookupError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise TemplateRenderError(f"Template error: {exc}") from exc


@lru_cache(maxsize=256)
def _compiled(text: str) -> Template:
    """Compile a template once: the same templates render at every step of every run."""
    return ENV.from_string(text)


def render(text: str, variables: dict[str, Any]) -> str:
    """Render `text` in the sandbox, raising TemplateRenderError with a readable message."""
    if "{" not in text:
        return text
    parts: list[str] = []
    size = 0
    with _readable_errors():
        template = _compiled(text)
        with rendering():
            for part in template.generate(variables):
                size += len(part)
                if size > MAX_RENDERED_CHARS:
                    raise TemplateRenderError(
                        "Rendered template is larger than 1,000,000 characters"
                    )
                parts.append(part)
    return "".join(parts)


def _json_data(value: Any) -> Any:
    """Keep JSON data as it is; anything else (a function, a range) becomes its text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): _json_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_data(v) for v in value]
    return str(value)


def render_value(text: str, variables: dict[str, Any]) -> Any:
    """Render a template; a template that is one `{{ expression }}` keeps its native type.

    So `{{ nodes.research.output.ingredients }}` passes a list to a tool, not its text form.
    """
    stripped = text.strip()
    if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        with _readable_errors():
            expression = ENV.compile_expression(stripped[2:-2], undefined_to_none=False)
            with rendering():
                value = expression(**variables)
        if isinstance(value, Undefined):
            raise TemplateRenderError(f"Template error: {stripped} is undefined")
        if text_size(value, MAX_VALUE_CHARS) > MAX_VALUE_CHARS:
            raise TemplateRenderError(
                f"Template stopped: the value is over {MAX_VALUE_CHARS:,} characters."
            )
        return _json_data(value)
    return render(text, variables)


#: A path a template reads under `nodes` or `inputs`: ("nodes", "draft", "output", "title").
DataPath = tuple[str | int, ...]
PATH_ROOTS = ("nodes", "inputs")


@dataclass
class TemplateReferences:
    roots: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    inputs: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    syntax_error: str | None = None
    #: The longest constant paths read under `nodes` and `inputs` (see `data_paths`).
    paths: set[DataPath] = field(default_factory=set)


def _constant_key(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        value = node.arg.value
        return value if isinstance(value, str) else None
    return None


def _segment(access: nodes.Node) -> str | int | None:
    if isinstance(access, nodes.Getattr):
        return access.attr
    if isinstance(access, nodes.Getitem) and isinstance(access.arg, nodes.Const):
        value = access.arg.value
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
    return None


def data_paths(accesses: list[nodes.Node]) -> set[DataPath]:
    """Return the constant paths the `.name` / `[key]` accesses read from `nodes` or `inputs`.

    `{{ nodes.draft.output.items[0] }}` reads ("nodes", "draft", "output", "items", 0); a path
    with a computed key (`[i]`) ends before it. Only the longest paths are kept: a path that
    can be read makes every path it starts with readable too.
    """
    found: set[DataPath] = set()
    for access in accesses:
        parts: list[str | int] = []
        current: nodes.Node = access
        while isinstance(current, (nodes.Getattr, nodes.Getitem)):
            segment = _segment(current)
            if segment is None:
                break
            parts.append(segment)
            current = current.node  # type: ignore[attr-defined]
        else:
            if isinstance(current, nodes.Name) and current.name in PATH_ROOTS:
                found.add((current.name, *reversed(parts)))
    prefixes = {path[:i] for path in found for i in range(2, len(path))}
    return found - prefixes


def references(text: str) -> TemplateReferences:
    """Return the data a template reads: root names, node ids, input and credential names."""
    found = TemplateReferences()
    if "{" not in text:
        return found
    try:
        ast = ENV.parse(text)
    except TemplateError as exc:
        found.syntax_error = str(exc)
        return found
    # Collected before the scope analysis: its compiler folds constant expressions in the tree
    # (`1 if 1 else inputs.a`), and the fast readers in builder/graph read the unfolded tree.
    accesses = list(ast.find_all((nodes.Getattr, nodes.Getitem)))
    found.roots = set(find_undeclared_variables(ast))
    for access in accesses:
        base = access.node  # type: ignore[attr-defined]
        if isinstance(base, nodes.Name) and base.name in ("nodes", "inputs", "secrets"):
            key = _constant_key(access)
            if key is not None:
                getattr(found, base.name).add(key)
    found.paths = data_paths(accesses)
    return found


def path_parts(path: str) -> list[str]:
    """Split a dotted data path such as `nodes.check.output.missing`."""
    return [part for part in path.strip().split(".") if part]


def resolve_path(path: str, data: dict[str, Any]) -> Any:
    """Read a dotted path out of data; list indexes are numbers. Missing → KeyError."""
    value: Any = data
    for part in path_parts(path):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            try:
                value = value[int(part)]
            except IndexError as exc:
                raise KeyError(path) from exc
        else:
            raise KeyError(path)
    return value

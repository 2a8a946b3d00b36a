"""What data a template reads, for validation: fast for the plain case, Jinja for the rest.

Most templates are text with `{{ inputs.x }}` or `{{ nodes.id.output }}` in it. Reading one with
Jinja (parse, then its compiler's scope analysis) costs about 0.3 ms, which would dominate a large
graph's validation, so a strict pattern reads those directly. Anything else is parsed by Jinja;
when its tree has no construct that binds names (for, set, macro, with, blocks, imports), every
name it loads is read from the run's data, so the names are collected from the tree without the
scope analysis. What is left goes through `runs.engine.templates.references` as before. Parsed
templates are remembered, since the canvas validates the same templates on every edit.
All paths agree with `references` (tests/builder/test_graph_templates.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import TemplateError, nodes

from runs.engine.templates import ENV, TEMPLATE_ROOTS, DataPath, data_paths, references

# Only Jinja's default delimiters make the pattern below mean what Jinja would read.
_DEFAULT_SYNTAX = (
    (ENV.variable_start_string, ENV.variable_end_string) == ("{{", "}}")
    and (ENV.block_start_string, ENV.comment_start_string) == ("{%", "{#")
    and ENV.line_statement_prefix is None
    and ENV.line_comment_prefix is None
)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# `{{ root.name.name }}`: a data root with dotted names after it, and nothing else.
_PLAIN = re.compile(
    r"\{\{\s*(?P<root>" + "|".join(sorted(TEMPLATE_ROOTS)) + r")"
    r"(?:\.(?P<key>" + _NAME + r"))?(?P<rest>(?:\." + _NAME + r")*)\s*\}\}"
)
# A credential inserted as it is: `{{ secrets.name }}` or `{{ secrets['name'] }}`.
PLAIN_SECRET = re.compile(
    r"\{\{-?\s*secrets(?:\.(?P<attr>"
    + _NAME
    + r")|\[\s*(?P<q>['\"])(?P<key>"
    + _NAME
    + r")(?P=q)\s*\])\s*-?\}\}"
)
# Longer texts are parsed each time rather than kept: the cache stays a few megabytes at most.
_CACHED_CHARS = 2_048


@dataclass(frozen=True)
class TemplateRefs:
    roots: frozenset[str] = frozenset()
    nodes: frozenset[str] = frozenset()
    inputs: frozenset[str] = frozenset()
    syntax_error: str | None = None
    #: The longest constant paths read under nodes and inputs, e.g. ("nodes", "a", "output").
    paths: frozenset[DataPath] = frozenset()
    #: Credential names read as secrets.<name>.
    secrets: frozenset[str] = frozenset()


NO_REFS = TemplateRefs()


def template_refs(text: str) -> TemplateRefs:
    """Return the data `text` reads; a template Jinja cannot compile gets its syntax_error.

    Raises RecursionError for expressions nested too deeply to parse.
    """
    if "{" not in text:
        return NO_REFS
    plain = _plain_refs(text)
    if plain is not None:
        return plain
    if len(text) <= _CACHED_CHARS:
        return _parsed_cached(text)
    return _parsed(text)


def _plain_refs(text: str) -> TemplateRefs | None:
    """Read a template made only of text and plain `{{ root.path }}` expressions, else None."""
    if not _DEFAULT_SYNTAX or "{%" in text or "{#" in text:
        return None
    roots: set[str] = set()
    found: dict[str, set[str]] = {"nodes": set(), "inputs": set(), "secrets": set()}
    paths: set[DataPath] = set()
    position = 0
    while (start := text.find("{{", position)) != -1:
        match = _PLAIN.match(text, start)
        if match is None:
            return None
        root, key = match["root"], match["key"]
        roots.add(root)
        if key is not None and root in found:
            found[root].add(key)
            paths.add((root, key, *match["rest"].split(".")[1:]))
        position = match.end()
    return TemplateRefs(
        frozenset(roots),
        frozenset(found["nodes"]),
        frozenset(found["inputs"]),
        paths=frozenset(_longest(paths)),
        secrets=frozenset(found["secrets"]),
    )


def _longest(paths: set[DataPath]) -> set[DataPath]:
    if len(paths) < 2:
        return paths
    return paths - {path[:i] for path in paths for i in range(2, len(path))}


# Expressions and plain control flow: nothing in these binds a name or changes the scope.
_UNSCOPED = frozenset(
    {
        nodes.Output,
        nodes.TemplateData,
        nodes.If,
        nodes.Name,
        nodes.Const,
        nodes.Getattr,
        nodes.Getitem,
        nodes.Slice,
        nodes.Filter,
        nodes.Test,
        nodes.Call,
        nodes.Keyword,
        nodes.CondExpr,
        nodes.And,
        nodes.Or,
        nodes.Not,
        nodes.Neg,
        nodes.Pos,
        nodes.Compare,
        nodes.Operand,
        nodes.Concat,
        nodes.Add,
        nodes.Sub,
        nodes.Mul,
        nodes.Div,
        nodes.FloorDiv,
        nodes.Mod,
        nodes.Pow,
        nodes.List,
        nodes.Tuple,
        nodes.Dict,
        nodes.Pair,
    }
)
# Names Jinja's compiler gives a meaning of its own somewhere.
_SPECIAL_NAMES = frozenset({"self", "super", "loop", "caller", "varargs", "kwargs"})
# What holds expressions without computing anything itself.
_HOLDERS = frozenset({nodes.Output, nodes.TemplateData, nodes.If, nodes.Name, nodes.Const})


def _unscoped_refs(ast: nodes.Template) -> TemplateRefs | None:
    """Read the names an unscoped template loads, or None if it needs Jinja's scope analysis."""
    names: set[str] = set()
    found: dict[str, set[str]] = {"nodes": set(), "inputs": set(), "secrets": set()}
    accesses: list[nodes.Node] = []
    for item in ast.find_all(nodes.Node):
        kind = type(item)
        if kind not in _UNSCOPED:
            return None
        # Jinja's compiler computes expressions made only of constants, and can fail doing it
        # (`true['a'] ~ 1`); such an expression has a part whose own parts are all constants.
        if kind not in _HOLDERS and all(
            type(part) is nodes.Const for part in item.iter_child_nodes()
        ):
            return None
        if isinstance(item, nodes.Name):
            if item.name in _SPECIAL_NAMES or item.ctx != "load":
                return None
            names.add(item.name)
        elif isinstance(item, nodes.Filter) and item.name not in ENV.filters:
            return None  # Jinja refuses it, or allows it under an if: its compiler decides.
        elif isinstance(item, nodes.Test) and item.name not in ENV.tests:
            return None
        elif isinstance(item, (nodes.Getattr, nodes.Getitem)):
            accesses.append(item)
            base = item.node
            if isinstance(base, nodes.Name) and base.name in found:
                key = _constant_key(item)
                if key is not None:
                    found[base.name].add(key)
    roots = frozenset(names - set(ENV.globals))
    return TemplateRefs(
        roots,
        frozenset(found["nodes"]),
        frozenset(found["inputs"]),
        paths=frozenset(data_paths(accesses)),
        secrets=frozenset(found["secrets"]),
    )


def _constant_key(item: nodes.Getattr | nodes.Getitem) -> str | None:
    if isinstance(item, nodes.Getattr):
        return item.attr
    if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
        return item.arg.value
    return None


def _parsed(text: str) -> TemplateRefs:
    try:
        ast = ENV.parse(text)
    except TemplateError:
        ast = None  # `references` reports the syntax error in its own words
    if ast is not None and (unscoped := _unscoped_refs(ast)) is not None:
        return unscoped
    try:
        refs = references(text)
    except TemplateError as exc:
        # An unknown filter or test is found while the names are collected, after parsing.
        return TemplateRefs(syntax_error=str(exc) or "the template cannot be compiled")
    return TemplateRefs(
        frozenset(refs.roots),
        frozenset(refs.nodes),
        frozenset(refs.inputs),
        refs.syntax_error,
        frozenset(refs.paths),
        frozenset(refs.secrets),
    )


_parsed_cached = lru_cache(maxsize=8_192)(_parsed)


def clear_template_cache() -> None:
    """Forget the templates parsed so far (for measuring a cold validation)."""
    _parsed_cached.cache_clear()

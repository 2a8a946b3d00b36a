"""The bounded sandbox environment and the syntax-tree rewrite that routes templates through it."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from functools import update_wrapper
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from .budget import built, limit_chars, tick
from .filters import CONCAT, EMIT, ITERATE, SLICED, bounded_filter, concat, emit, iterate, sliced
from .growth import binop_size, format_size, method_call


class _Bounding(NodeTransformer):
    """Route loops, output, slices and `~` through the internal filters that count and check."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment

    def _filtered(self, name: str, node: nodes.Expr, lineno: int) -> nodes.Filter:
        wrapped = nodes.Filter(node, name, [], [], None, None, lineno=lineno)
        wrapped.set_environment(self.environment)
        return wrapped

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = self._filtered(ITERATE, node.iter, node.lineno)  # type: ignore[arg-type]
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        self.generic_visit(node)
        node.nodes = [self._filtered(EMIT, child, child.lineno) for child in node.nodes]
        return node

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Expr:
        self.generic_visit(node)
        # Jinja compiles a slice to plain Python slicing: count the copy it makes.
        if isinstance(node.arg, nodes.Slice):
            return self._filtered(SLICED, node, node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        self.generic_visit(node)
        parts = nodes.List(node.nodes, lineno=node.lineno)
        parts.set_environment(self.environment)
        return self._filtered(CONCAT, parts, node.lineno)


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _Bounding(self.environment).visit(node)
        super().visit_Template(node, frame)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox whose renders stay inside a RenderBudget (see the module doc)."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters.update({ITERATE: iterate, EMIT: emit, CONCAT: concat, SLICED: sliced})

    def add_filter(self, name: str, func: Callable[..., Any]) -> None:
        """Register a filter, bounded like the built-in ones."""
        self.filters[name] = bounded_filter(name, func)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        binop_size(operator, left, right)
        return built(super().call_binop(context, operator, left, right), left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt, by_name = value.__self__, value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            given = args[0] if by_name and args else kwargs
            values = [*(() if by_name else args)]
            values += list(given.values()) if isinstance(given, Mapping) else []
            limit_chars(format_size(fmt, values), "the formatted text")
            return wrapper(*args, **kwargs)

        return update_wrapper(bounded, value)

    def call(
        __self,  # Jinja's signature: the prefixes keep keyword arguments free
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        tick()
        if isinstance(__obj, (types.BuiltinMethodType, types.MethodType)):
            args = method_call(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return built(result, getattr(__obj, "__self__", None), *args, *kwargs.values())

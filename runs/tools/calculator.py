"""The `calculator` tool: arithmetic on numbers, parsed with `ast` and never executed as code."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from .base import Tool, ToolContext, ToolError

MAX_EXPRESSION_LENGTH = 500
MAX_MAGNITUDE = 1e300  # keeps every result a finite float-sized number
MAX_ROUND_DIGITS = 100

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _round(value: Number, digits: Number = 0) -> Number:
    if not isinstance(digits, int) or abs(digits) > MAX_ROUND_DIGITS:
        raise ToolError(
            "invalid_arguments", "round() needs a whole number of digits (at most 100)."
        )
    return round(value, digits) if digits else round(value)


def _sqrt(value: Number) -> float:
    if value < 0:
        raise ToolError("invalid_arguments", "sqrt() of a negative number is not a real number.")
    return math.sqrt(value)


def _min(*values: Number) -> Number:
    return min(values)


def _max(*values: Number) -> Number:
    return max(values)


# name -> (function, least arguments, most arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (_min, 1, 50),
    "max": (_max, 1, 50),
    "sqrt": (_sqrt, 1, 1),
}


def _refuse(message: str) -> ToolError:
    return ToolError("invalid_arguments", message)


def _checked(value: Number) -> Number:
    if isinstance(value, complex):
        raise _refuse("The result is not a real number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise _refuse("The result is too large.")
    if abs(value) > MAX_MAGNITUDE:
        raise _refuse("The result is too large.")
    return value


def _power(base: Number, exponent: Number) -> Number:
    """Raise to a power, refusing before computing anything that would be astronomically large."""
    growing = base != 0 and abs(base) != 1 and exponent > 0
    if growing and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
        raise _refuse("The result is too large.")
    if base == 0 and exponent < 0:
        raise _refuse("Zero can't be raised to a negative power.")
    return base**exponent


def _evaluate(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _refuse("Only numbers can be used, not text or other values.")
        return _checked(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return _checked(_power(_evaluate(node.left), _evaluate(node.right)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise _refuse("Division by zero.")
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.Call):
        return _checked(_call(node))
    raise _refuse(
        f"“{_describe(node)}” is not allowed; use numbers, + - * / // % ** and parentheses."
    )


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        allowed = ", ".join(FUNCTIONS)
        raise _refuse(f"Only these functions can be used: {allowed}.")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _refuse(f"{node.func.id}() takes plain numbers only.")
    func, least, most = FUNCTIONS[node.func.id]
    if not least <= len(node.args) <= most:
        raise _refuse(f"{node.func.id}() takes {least} to {most} numbers.")
    return func(*(_evaluate(arg) for arg in node.args))


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return "." + node.attr
    return type(node).__name__.lower()


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression, or raise ToolError("invalid_arguments")."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise _refuse(f"The expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
    text = expression.replace("×", "*").replace("÷", "/").replace("−", "-").strip()
    if not text:
        raise _refuse("The expression is empty.")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise _refuse("The expression is not valid arithmetic.") from None
    try:
        return _evaluate(tree.body)
    except (OverflowError, MemoryError):
        raise _refuse("The result is too large.") from None
    except RecursionError:
        raise _refuse("The expression is nested too deeply.") from None
    except (ArithmeticError, ValueError, TypeError):
        raise _refuse("The expression can't be calculated.") from None


def calculator(arguments: dict, context: ToolContext) -> dict[str, Number]:
    """Evaluate the expression and return {"result": number}."""
    return {"result": evaluate(arguments["expression"])}


TOOL = Tool(
    name="calculator",
    description=(
        "Evaluate an arithmetic expression exactly: numbers, + - * / // % ** and parentheses, "
        "and the functions abs, round, min, max and sqrt. Example: round(19.99 * 3 * 1.2, 2)."
    ),
    parameters={
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_EXPRESSION_LENGTH,
                "description": "The arithmetic to evaluate, e.g. (12 + 30) / 4.",
            }
        },
        "required": ["expression"],
        "additionalProperties": False,
    },
    func=calculator,
    result_schema={
        "type": "object",
        "properties": {"result": {"type": "number", "description": "The value."}},
        "required": ["result"],
        "additionalProperties": False,
    },
)

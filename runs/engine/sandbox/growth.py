"""How big an operation's result would be, worked out before the operation runs."""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .budget import (
    MAX_INT_BITS,
    MAX_VALUE_CHARS,
    counted,
    is_whole,
    limit_chars,
    over_value,
    refuse,
    size_of,
)


def percent_size(fmt: str, values: Any) -> int:
    """Bound the length of `fmt % values` without formatting it."""
    if isinstance(values, Mapping):
        parts = list(values.values())
    elif isinstance(values, tuple):
        parts = list(values)
    else:
        parts = [values]
    widest = max((size_of(v) for v in parts), default=0)
    total, position = len(fmt), fmt.find("%")
    while position != -1:
        position += 1
        if position < len(fmt) and fmt[position] == "(":
            close = fmt.find(")", position)
            position = len(fmt) if close == -1 else close + 1
        while position < len(fmt) and fmt[position] in "#0- +":
            position += 1
        numbers = 0
        while position < len(fmt) and (fmt[position].isdigit() or fmt[position] in ".*"):
            if fmt[position] == "*":
                refuse("a % format may not take its width from the values")
            start = position
            while position < len(fmt) and fmt[position].isdigit():
                position += 1
            numbers += int(fmt[start:position] or 0)
            if position == start:
                position += 1
        total += numbers + widest
        if total > MAX_VALUE_CHARS:
            break
        position = fmt.find("%", position + 1)
    return total


def format_size(fmt: str, values: Iterable[Any]) -> int:
    """Bound the length of `fmt.format(...)` without formatting it."""
    widest = max((size_of(v) for v in values), default=0)
    total = len(fmt)
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return total  # the real call raises the same error
    for _literal, name, spec, _conversion in fields:
        if name is None:
            continue
        spec = spec or ""
        if "{" in spec:
            refuse("a format field may not take its width from the values")
        digits = "".join(c if c.isdigit() else " " for c in spec).split()
        total += sum(int(d) for d in digits) + widest
        if total > MAX_VALUE_CHARS:
            break
    return total


def replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    if isinstance(text, str) and isinstance(old, str):  # noqa: SIM114 - str and bytes apart, for mypy
        found = text.count(old) if old else len(text) + 1
    elif isinstance(text, bytes) and isinstance(old, bytes):
        found = text.count(old) if old else len(text) + 1
    else:
        return 0
    if is_whole(count) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, size_of(new) - len(old))


def join_size(separator: Any, items: list[Any]) -> int:
    return sum(size_of(item) for item in items) + max(0, len(items) - 1) * size_of(separator)


def binop_size(operator: str, left: Any, right: Any) -> None:
    """Refuse `left <operator> right` when its result would be too big to build."""
    if operator == "**":
        if is_whole(left) and is_whole(right) and right > 0 and abs(left) > 1:
            bits = right * (abs(left).bit_length() - 1)
            if bits > MAX_INT_BITS:
                refuse(
                    f"{left} ** {right} would be a number of over {MAX_INT_BITS:,} bits"
                    if left.bit_length() < 64
                    else f"a power would be a number of over {MAX_INT_BITS:,} bits"
                )
    elif operator == "*":
        if is_whole(left) and is_whole(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                refuse(f"a product would be a number of over {MAX_INT_BITS:,} bits")
            return
        sequence, times = (left, right) if is_whole(right) else (right, left)
        if is_whole(times) and isinstance(sequence, (str, bytes, list, tuple)) and times > 0:
            per_copy = size_of(sequence)
            if per_copy * times > MAX_VALUE_CHARS:
                refuse(f"repeating {per_copy:,} characters {times:,} times" + over_value())
    elif operator == "+":
        if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, type(left)):
            limit_chars(size_of(left) + size_of(right), "joining the two")
    elif operator == "%" and isinstance(left, str):
        limit_chars(percent_size(left, right), "the formatted text")


# String methods that grow their string: how big their result would be.


def _width_argument(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    width = args[0] if args else kwargs.get("width", 0)
    return width if is_whole(width) else 0


def _translate_size(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    table = args[0] if args else kwargs.get("table")
    if isinstance(table, Mapping):
        widest = max((size_of(v) for v in table.values()), default=1)
        return len(text) * max(1, widest)
    return len(text)


def _tabs_size(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    tabsize = args[0] if args else kwargs.get("tabsize", 8)
    tabs = text.count("\t" if isinstance(text, str) else b"\t")
    return len(text) + tabs * (tabsize if is_whole(tabsize) else 8)


_METHOD_SIZES: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], int]] = {
    "center": _width_argument,
    "ljust": _width_argument,
    "rjust": _width_argument,
    "zfill": _width_argument,
    "expandtabs": _tabs_size,
    "translate": _translate_size,
    "replace": lambda text, args, kwargs: replace_size(text, *args, **kwargs),
}


def method_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a string method call that would build too much; return the arguments to use."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if is_whole(owner) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        if is_whole(length) and length > MAX_VALUE_CHARS:
            refuse(f"to_bytes({length:,})" + over_value())
        return args
    if not isinstance(owner, (str, bytes)):
        return args
    if name == "join" and args:
        items = list(counted(args[0]))
        limit_chars(join_size(owner, items), "the joined text")
        return (items, *args[1:])
    sizer = _METHOD_SIZES.get(name)
    if sizer is not None:
        try:
            size = sizer(owner, args, kwargs)
        except TypeError:
            return args  # wrong arguments: the real call says so
        limit_chars(size, f"the result of {name}()")
    return args

"""Readable differences between two step outputs: text lines side by side, words marked.

Everything here returns plain data (strings and flags); templates render it, so model output is
always escaped and never becomes HTML.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

MAX_DIFF_LINES = 400
MAX_LINE_CHARS = 2_000
# Lines longer than this are not compared character by character (quadratic in the worst case).
MAX_INTRALINE_CHARS = 600
# Unchanged lines kept around each change; longer unchanged stretches are folded.
CONTEXT_LINES = 3
WORD = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass
class Segment:
    text: str
    changed: bool = False


@dataclass
class DiffLine:
    """One row of a side-by-side diff; a side is None where that run has no line."""

    kind: str  # "same", "changed", "removed", "added", or "fold" (unchanged lines hidden)
    left_no: int | None = None
    right_no: int | None = None
    left: list[Segment] = field(default_factory=list)
    right: list[Segment] = field(default_factory=list)
    folded: int = 0


@dataclass
class OutputDiff:
    lines: list[DiffLine]
    added: int
    removed: int
    truncated: bool


def output_text(value: Any) -> str:
    """Show an output as text to compare line by line: strings as they are; structures as
    indented `key: value` lines with multi-line strings kept multi-line (JSON would squeeze a
    whole paragraph onto one line with \\n in it)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list) and value:
        return "\n".join(_readable(value, 0))
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _readable(value: Any, depth: int) -> list[str]:
    pad = "  " * depth
    items = (
        [(f"{key}:", value[key]) for key in sorted(value, key=str)]
        if isinstance(value, dict)
        else [("-", item) for item in value]
    )
    lines: list[str] = []
    for label, item in items:
        if isinstance(item, dict | list) and item:
            lines.append(f"{pad}{label}")
            lines.extend(_readable(item, depth + 1))
        elif isinstance(item, str) and "\n" in item:
            lines.append(f"{pad}{label} |")
            lines.extend(f"{pad}  {line}" for line in item.split("\n"))
        else:
            text = "{}" if item == {} else "[]" if item == [] else _scalar(item)
            lines.append(f"{pad}{label} {text}")
    return lines


def pretty_value(value: Any) -> tuple[str, str]:
    """Return (kind, text) for showing a value to a person: "text" or pretty-printed "json".

    A string that holds a JSON object or array (a model asked for JSON) is shown pretty-printed.
    """
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and len(stripped) < 512 * 1024:
            try:
                parsed = json.loads(stripped)
            except ValueError:
                return "text", value
            if isinstance(parsed, dict | list):
                return "json", json.dumps(parsed, indent=2, ensure_ascii=False)
        return "text", value
    return "json", json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " …"


def _words(line: str) -> list[str]:
    return WORD.findall(line)


def _intraline(left: str, right: str) -> tuple[list[Segment], list[Segment]]:
    """Mark the words that differ between two paired lines."""
    if len(left) > MAX_INTRALINE_CHARS or len(right) > MAX_INTRALINE_CHARS:
        return [Segment(left, True)], [Segment(right, True)]
    a, b = _words(left), _words(right)
    left_segments: list[Segment] = []
    right_segments: list[Segment] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            _append(left_segments, "".join(a[i1:i2]), tag != "equal")
        if j2 > j1:
            _append(right_segments, "".join(b[j1:j2]), tag != "equal")
    return _bridge(left_segments), _bridge(right_segments)


def _bridge(segments: list[Segment]) -> list[Segment]:
    """Join changes separated only by spaces into one mark ("<new words>", not "<new> <words>")."""
    merged: list[Segment] = []
    for i, segment in enumerate(segments):
        between_changes = (
            not segment.changed
            and not segment.text.strip()
            and 0 < i < len(segments) - 1
            and segments[i - 1].changed
            and segments[i + 1].changed
        )
        _append(merged, segment.text, segment.changed or between_changes)
    return merged


def _append(segments: list[Segment], text: str, changed: bool) -> None:
    if segments and segments[-1].changed == changed:
        segments[-1].text += text
    else:
        segments.append(Segment(text, changed))


def line_diff(left: Any, right: Any) -> OutputDiff:
    """Diff two outputs line by line; replaced lines are paired and their changed words marked."""
    a = [_clip(line) for line in output_text(left).splitlines()]
    b = [_clip(line) for line in output_text(right).splitlines()]
    rows: list[DiffLine] = []
    added = removed = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                text = a[i1 + offset]
                rows.append(
                    DiffLine(
                        "same", i1 + offset + 1, j1 + offset + 1, [Segment(text)], [Segment(text)]
                    )
                )
            continue
        removed += i2 - i1
        added += j2 - j1
        for offset in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + offset, j1 + offset
            has_left, has_right = i < i2, j < j2
            if has_left and has_right:
                left_segments, right_segments = _intraline(a[i], b[j])
                rows.append(DiffLine("changed", i + 1, j + 1, left_segments, right_segments))
            elif has_left:
                rows.append(DiffLine("removed", i + 1, None, [Segment(a[i], True)], []))
            else:
                rows.append(DiffLine("added", None, j + 1, [], [Segment(b[j], True)]))
    if added or removed:
        rows = _fold(rows)
    truncated = len(rows) > MAX_DIFF_LINES
    return OutputDiff(rows[:MAX_DIFF_LINES], added, removed, truncated)


def _fold(rows: list[DiffLine]) -> list[DiffLine]:
    """Hide long stretches of unchanged lines, keeping a few lines of context around changes."""
    folded: list[DiffLine] = []
    start = 0
    while start < len(rows):
        if rows[start].kind != "same":
            folded.append(rows[start])
            start += 1
            continue
        end = start
        while end < len(rows) and rows[end].kind == "same":
            end += 1
        keep_head = CONTEXT_LINES if start > 0 else 0
        keep_tail = CONTEXT_LINES if end < len(rows) else 0
        if end - start > keep_head + keep_tail + 1:
            folded.extend(rows[start : start + keep_head])
            folded.append(DiffLine("fold", folded=end - start - keep_head - keep_tail))
            folded.extend(rows[end - keep_tail : end])
        else:
            folded.extend(rows[start:end])
        start = end
    return folded

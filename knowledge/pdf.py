"""A PDF's text as paragraphs under headings, from the layout pypdf reports.

Exported PDFs (Word, Google Docs, a browser's "Save as PDF") rarely put a blank line between
paragraphs in their text layer, so splitting pypdf's text at blank lines gives one block per page
and chunks cut mid-section with no heading to cite. pypdf's text visitor gives every piece of
text with its font size and position instead: a line set larger than the body text is a heading
(its size is its level), and a gap between lines wider than the body's line spacing ends a
paragraph. Headings carry over to the next page, as a section does.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .chunking import Block

#: A line at least this much larger than the body text is a heading.
HEADING_RATIO = 1.15
#: A heading is a short line: a longer one set large is a pull quote or a cover, not a heading.
MAX_HEADING_CHARS = 150
#: A gap between two lines this many times the body's usual line spacing ends a paragraph.
PARAGRAPH_GAP = 1.3


@dataclass
class Line:
    text: str
    size: float  # the font size it is set in, in points on the page
    y: float  # its baseline, on the page


def page_lines(page) -> list[Line]:
    """The page's lines of text in pypdf's reading order, each with its size and height."""
    lines: list[Line] = []
    current: list[str] = []
    metrics: list[tuple[float, float]] = []

    def end_line() -> None:
        text = "".join(current).strip()
        if text and metrics:
            lines.append(Line(text, max(size for size, _ in metrics), metrics[0][1]))
        current.clear()
        metrics.clear()

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], font: object, size: float):
        parts = text.split("\n")
        for index, part in enumerate(parts):
            if index:
                end_line()
            if part:
                current.append(part)
                if part.strip():
                    metrics.append(_placed(size, cm, tm))

    page.extract_text(visitor_text=visit)
    end_line()
    return lines


def _placed(size: float, cm: Sequence[float], tm: Sequence[float]) -> tuple[float, float]:
    """The font size and baseline height of text drawn with matrices `tm` (text) and `cm`."""
    a = tm[0] * cm[0] + tm[1] * cm[2]
    b = tm[0] * cm[1] + tm[1] * cm[3]
    c = tm[2] * cm[0] + tm[3] * cm[2]
    d = tm[2] * cm[1] + tm[3] * cm[3]
    y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
    return size * abs(a * d - b * c) ** 0.5, y


def layout_blocks(pages: list[list[Line]]) -> Iterator[Block]:
    """Paragraph blocks of the document's lines, page by page, under the headings above them."""
    sized = [(round(line.size, 1), len(line.text)) for lines in pages for line in lines]
    if not sized:
        return
    weight: dict[float, int] = {}
    for size, chars in sized:
        weight[size] = weight.get(size, 0) + chars
    body = max(weight, key=lambda size: weight[size])
    levels = sorted({s for s, _ in sized if s >= body * HEADING_RATIO}, reverse=True)
    headings: list[tuple[int, str]] = []
    for number, lines in enumerate(pages, start=1):
        location = f"page {number}"
        spacing = _line_spacing(lines, body)
        paragraph: list[str] = []
        previous: Line | None = None
        for line in lines:
            level = _heading_level(line, levels)
            if level is not None:
                if paragraph:
                    yield Block(_join(paragraph), _path(headings), location)
                    paragraph = []
                if (
                    previous is not None
                    and _heading_level(previous, levels) == level
                    and 0 < previous.y - line.y <= line.size * 1.6
                ):
                    # A heading set over two lines.
                    headings[-1] = (level, f"{headings[-1][1]} {line.text}")
                else:
                    while headings and headings[-1][0] >= level:
                        headings.pop()
                    headings.append((level, line.text))
            else:
                gap = previous.y - line.y if previous is not None else 0.0
                if paragraph and (gap <= 0 or gap > spacing * PARAGRAPH_GAP):
                    yield Block(_join(paragraph), _path(headings), location)
                    paragraph = []
                paragraph.append(line.text)
            previous = line
        if paragraph:
            yield Block(_join(paragraph), _path(headings), location)


def _heading_level(line: Line, levels: list[float]) -> int | None:
    size = round(line.size, 1)
    if size not in levels or len(line.text) > MAX_HEADING_CHARS:
        return None
    return levels.index(size) + 1


def _line_spacing(lines: list[Line], body: float) -> float:
    """The usual distance between two lines of body text on this page (its median)."""
    gaps = [
        above.y - below.y
        for above, below in itertools.pairwise(lines)
        if round(above.size, 1) == body == round(below.size, 1) and above.y > below.y
    ]
    return statistics.median(gaps) if gaps else body * 1.5


def _join(lines: list[str]) -> str:
    """One paragraph of its lines: a line ending in a hyphen runs into the next."""
    text = lines[0]
    for line in lines[1:]:
        text = f"{text}{line}" if text.endswith("-") else f"{text} {line}"
    return text


def _path(headings: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(text for _, text in headings)

"""Read a document's bytes into blocks under their headings, by format.

txt: paragraphs; md: markdown-it's tokens (headings, paragraphs, list items, code); html:
BeautifulSoup's elements in document order; pdf: paragraphs under headings from the layout pypdf
reports, page by page (knowledge.pdf); csv and jsonl: one atomic block per row. A file that
cannot be read raises `Unreadable` with a reason a person understands.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

from .chunking import Block
from .pdf import layout_blocks, page_lines

FORMATS = ("txt", "md", "html", "pdf", "csv", "jsonl")
EXTENSIONS = {
    "txt": "txt",
    "text": "txt",
    "md": "md",
    "markdown": "md",
    "html": "html",
    "htm": "html",
    "pdf": "pdf",
    "csv": "csv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
}
CONTENT_TYPES = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
}
MAX_ROWS = 50_000
_BLANK_LINES = re.compile(r"\n\s*\n")


class Unreadable(Exception):
    """The content is not a readable document of its format."""


def format_for(name: str = "", content_type: str = "") -> str | None:
    """The format a file name's extension (or, without one, a content type) means, or None."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension:
        # The name decides: a browser calls many files text/plain or octet-stream.
        return EXTENSIONS.get(extension)
    return CONTENT_TYPES.get(content_type.split(";", 1)[0].strip().lower())


def decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def read_blocks(content: bytes, file_format: str) -> list[Block]:
    """Return the document's blocks in reading order."""
    reader = {
        "txt": _text,
        "md": _markdown,
        "html": _html,
        "pdf": _pdf,
        "csv": _csv,
        "jsonl": _jsonl,
    }.get(file_format)
    if reader is None:
        raise Unreadable(f"“{file_format}” files are not supported (use {', '.join(FORMATS)}).")
    return list(reader(content))


def _text(content: bytes) -> Iterator[Block]:
    for paragraph in _BLANK_LINES.split(decode(content)):
        yield Block(paragraph)


def _markdown(content: bytes) -> Iterator[Block]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(decode(content))
    headings: list[str] = []
    level_of: list[int] = []
    in_heading = 0
    for token in tokens:
        if token.type == "heading_open":
            in_heading = int(token.tag[1])
        elif token.type == "inline" and in_heading:
            while level_of and level_of[-1] >= in_heading:
                level_of.pop()
                headings.pop()
            level_of.append(in_heading)
            headings.append(token.content.strip())
            in_heading = 0
        elif token.type in ("inline", "fence", "code_block") and token.content.strip():
            yield Block(token.content, tuple(headings))


HTML_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
HTML_BLOCKS = ("p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption")


def html_title(content: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode(content), "html.parser")
    return soup.title.get_text(" ", strip=True)[:300] if soup.title else ""


def _html(content: bytes) -> Iterator[Block]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode(content), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer", "header"]):
        tag.decompose()
    root = soup.body or soup
    headings: list[str] = []
    level_of: list[int] = []
    found = False
    for element in root.find_all([*HTML_HEADINGS, *HTML_BLOCKS]):
        if element.name not in HTML_HEADINGS and element.find_parent(HTML_BLOCKS):
            continue  # its text is part of the enclosing block
        text = element.get_text(" ", strip=True)
        if not text:
            continue
        found = True
        if element.name in HTML_HEADINGS:
            level = int(element.name[1])
            while level_of and level_of[-1] >= level:
                level_of.pop()
                headings.pop()
            level_of.append(level)
            headings.append(text)
        else:
            yield Block(text, tuple(headings))
    if not found:
        yield from _text(root.get_text("\n\n").encode())


def _pdf(content: bytes) -> Iterator[Block]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise Unreadable("The PDF is password-protected; upload an unprotected copy.")
        pages = list(reader.pages)
    except PdfReadError as exc:
        raise Unreadable(f"The PDF could not be read ({exc}).") from exc
    lines = []
    for number, page in enumerate(pages, start=1):
        try:
            lines.append(page_lines(page))
        except Exception as exc:  # pypdf raises many types on damaged pages
            raise Unreadable(f"Page {number} of the PDF could not be read.") from exc
    yield from layout_blocks(lines)


def _csv(content: bytes) -> Iterator[Block]:
    text = decode(content)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(rows, None)
        if header is None:
            return
        for number, row in enumerate(rows, start=1):
            if number > MAX_ROWS:
                raise Unreadable(f"The file has more than {MAX_ROWS:,} rows.")
            pairs = [f"{name}: {value}" for name, value in zip(header, row, strict=False) if value]
            if pairs:
                yield Block("\n".join(pairs), (), f"row {number}", atomic=True)
    except csv.Error as exc:
        raise Unreadable(f"The CSV could not be read ({exc}).") from exc


def _jsonl(content: bytes) -> Iterator[Block]:
    for number, line in enumerate(decode(content).splitlines(), start=1):
        if not line.strip():
            continue
        if number > MAX_ROWS:
            raise Unreadable(f"The file has more than {MAX_ROWS:,} lines.")
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise Unreadable(f"Line {number} is not JSON ({exc}).") from exc
        yield Block(_row_text(value), (), f"line {number}", atomic=True)


def _row_text(value: object) -> str:
    if isinstance(value, dict):
        for key in ("text", "content", "body"):
            if isinstance(value.get(key), str):
                return value[key]
        return "\n".join(f"{k}: {v}" for k, v in value.items() if v not in (None, ""))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

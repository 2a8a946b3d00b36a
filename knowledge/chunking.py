"""Structural chunking: blocks (paragraphs, rows) under their headings → chunks of a bounded size.

A chunk never spans two sections (a change of heading path, or of page, starts a new chunk), so
every chunk cites one heading and one page. Within a section paragraphs are packed up to `size`
characters; the next chunk repeats the last `overlap` characters of the previous one (cut at a
word boundary), so a sentence split across chunks is whole in one of them. A block longer than
`size` is split at sentence ends, then at spaces, then hard. Atomic blocks (a CSV or JSONL row)
are chunks of their own and are never packed with their neighbours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADING_SEPARATOR = " › "
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class Block:
    """A piece of a document in reading order, with the headings above it."""

    text: str
    headings: tuple[str, ...] = ()
    location: str = ""
    atomic: bool = False


@dataclass(frozen=True)
class ChunkDraft:
    position: int
    text: str
    heading: str
    location: str


def clean(text: str) -> str:
    """Collapse runs of spaces on each line and drop blank edges; keep line breaks."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\x00", "").splitlines()]
    return "\n".join(line for line in lines if line).strip()


def _pieces(text: str, size: int) -> list[str]:
    """Split one over-long text into pieces of at most `size` characters."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        for part in _words_within(sentence, size):
            joined = f"{current} {part}" if current else part
            if len(joined) <= size:
                current = joined
            else:
                pieces.append(current)
                current = part
    if current:
        pieces.append(current)
    return pieces


def _words_within(sentence: str, size: int) -> list[str]:
    if len(sentence) <= size:
        return [sentence]
    parts: list[str] = []
    current = ""
    for word in sentence.split():
        while len(word) > size:  # no space to split at: cut hard
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:size])
            word = word[size:]
        joined = f"{current} {word}" if current else word
        if len(joined) <= size:
            current = joined
        else:
            parts.append(current)
            current = word
    if current:
        parts.append(current)
    return parts


def _tail(text: str, overlap: int) -> str:
    """The last `overlap` characters of `text`, starting at a word."""
    if overlap <= 0 or len(text) <= overlap:
        return text if overlap > 0 else ""
    tail = text[-overlap:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < len(tail) - 1 else tail


def chunk_blocks(blocks: list[Block], *, size: int, overlap: int) -> list[ChunkDraft]:
    """Pack `blocks` into chunks of at most `size` characters with `overlap` carried over."""
    if size < 50:
        raise ValueError("chunk size must be at least 50 characters")
    overlap = max(0, min(overlap, size // 2))
    drafts: list[ChunkDraft] = []
    section: list[Block] = []

    def flush() -> None:
        if section:
            drafts.extend(_chunk_section(section, size, overlap, len(drafts)))
            section.clear()

    for block in blocks:
        text = clean(block.text)
        if not text:
            continue
        block = Block(text, block.headings, block.location, block.atomic)
        if block.atomic:
            flush()
            section.append(block)
            flush()
            continue
        if section and (
            section[-1].headings != block.headings or section[-1].location != block.location
        ):
            flush()
        section.append(block)
    flush()
    return drafts


def _chunk_section(blocks: list[Block], size: int, overlap: int, start: int) -> list[ChunkDraft]:
    heading = HEADING_SEPARATOR.join(h for h in blocks[0].headings if h)
    texts: list[tuple[str, str]] = []  # (text, location of its first piece)
    current, location = "", blocks[0].location
    # Pieces of an over-long block leave room for the overlap carried in front of them.
    piece_size = size - overlap - 1 if overlap else size
    for block in blocks:
        pieces = _pieces(block.text, piece_size) if len(block.text) > size else [block.text]
        for piece in pieces:
            joined = f"{current}\n\n{piece}" if current else piece
            if len(joined) <= size:
                if not current:
                    location = block.location
                current = joined
                continue
            texts.append((current, location))
            carried = _tail(current, overlap)
            current = (
                f"{carried} {piece}" if carried and len(carried) + 1 + len(piece) <= size else piece
            )
            location = block.location
    if current:
        texts.append((current, location))
    return [
        ChunkDraft(position=start + i, text=text, heading=heading, location=where)
        for i, (text, where) in enumerate(texts)
    ]

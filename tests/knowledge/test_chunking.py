"""Structural chunking and reading each format into blocks, on fixed documents."""

import io
import itertools
import json

import pytest

from knowledge.chunking import Block, chunk_blocks
from knowledge.parsing import Unreadable, format_for, read_blocks

HANDBOOK_MD = b"""# Handbook

Welcome to Acme. This handbook explains how we work.

## Leave

### Sick days

Tell your manager before 10am. You get 12 sick days a year.

### Holidays

Book holidays two weeks ahead in the HR tool.

```
code # not a heading
```

## Expenses

Keep receipts for anything over 25 euros.
"""


def test_markdown_chunks_keep_their_heading_path():
    drafts = chunk_blocks(read_blocks(HANDBOOK_MD, "md"), size=400, overlap=0)
    by_heading = {d.heading: d.text for d in drafts}
    assert by_heading["Handbook › Leave › Sick days"] == (
        "Tell your manager before 10am. You get 12 sick days a year."
    )
    assert "two weeks ahead" in by_heading["Handbook › Leave › Holidays"]
    # A fenced block stays under its section; '#' inside code is not a heading.
    assert "code # not a heading" in by_heading["Handbook › Leave › Holidays"]
    assert by_heading["Handbook › Expenses"] == "Keep receipts for anything over 25 euros."
    assert [d.position for d in drafts] == list(range(len(drafts)))


def test_paragraphs_are_packed_up_to_the_size_and_never_cross_a_heading():
    blocks = [Block(f"Paragraph {i} " + "word " * 15, ("A",)) for i in range(6)]
    blocks += [Block("Under B.", ("B",))]
    drafts = chunk_blocks(blocks, size=200, overlap=0)
    assert all(len(d.text) <= 200 for d in drafts)
    assert [d.heading for d in drafts].count("B") == 1
    assert drafts[-1].text == "Under B."
    a_texts = " ".join(d.text for d in drafts if d.heading == "A")
    assert all(f"Paragraph {i}" in a_texts for i in range(6))
    assert len([d for d in drafts if d.heading == "A"]) == 3  # two 95-char paragraphs per chunk


def test_overlap_repeats_the_end_of_the_previous_chunk_from_a_word():
    words = " ".join(f"w{i}" for i in range(300))
    drafts = chunk_blocks([Block(words)], size=120, overlap=30)
    assert len(drafts) > 3
    for previous, following in itertools.pairwise(drafts):
        assert len(following.text) <= 120
        carried = following.text.split(" ")[0]
        assert carried in previous.text.split(" ")[-8:], "starts with a word of the previous end"
    # No word is lost.
    seen = {w for d in drafts for w in d.text.split()}
    assert seen == {f"w{i}" for i in range(300)}


def test_a_long_sentence_without_spaces_is_cut_hard():
    drafts = chunk_blocks([Block("x" * 250)], size=100, overlap=0)
    assert [len(d.text) for d in drafts] == [100, 100, 50]


def test_rows_are_chunks_of_their_own_with_their_row_number():
    data = b"name,team,phone\nAda,Support,123\nBob,Sales,\n"
    drafts = chunk_blocks(read_blocks(data, "csv"), size=500, overlap=50)
    assert [(d.text, d.location) for d in drafts] == [
        ("name: Ada\nteam: Support\nphone: 123", "row 1"),
        ("name: Bob\nteam: Sales", "row 2"),
    ]


def test_jsonl_rows_use_their_text_field_and_bad_lines_are_reported():
    data = json.dumps({"text": "First row", "id": 1}) + "\n\n" + json.dumps({"q": "a", "a": "b"})
    drafts = chunk_blocks(read_blocks(data.encode(), "jsonl"), size=500, overlap=0)
    assert [(d.text, d.location) for d in drafts] == [
        ("First row", "line 1"),
        ("q: a\na: b", "line 3"),
    ]
    with pytest.raises(Unreadable, match="Line 2 is not JSON"):
        read_blocks(b'{"text": "ok"}\n{broken', "jsonl")


def test_html_headings_and_paragraphs_without_scripts_or_navigation():
    page = b"""<html><head><title>Policies</title><script>alert(1)</script></head><body>
    <nav>Home | About</nav><h1>Policies</h1><p>Intro <b>text</b>.</p>
    <h2>Refunds</h2><ul><li><p>Within 30 days.</p></li><li>With a receipt.</li></ul>
    <h2>Shipping</h2><p>Free over 50 euros.</p></body></html>"""
    drafts = chunk_blocks(read_blocks(page, "html"), size=500, overlap=0)
    assert [(d.heading, d.text) for d in drafts] == [
        ("Policies", "Intro text ."),
        ("Policies › Refunds", "Within 30 days.\n\nWith a receipt."),
        ("Policies › Shipping", "Free over 50 euros."),
    ]
    assert not any("alert" in d.text or "Home" in d.text for d in drafts)


def _pdf(pages: list[str] | list[list[tuple[int, int, str]]]) -> bytes:
    """A real PDF written by hand (pypdf only reads): one text line per page, or per page its
    lines as (font size, baseline height, text)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for lines in pages:
        if isinstance(lines, str):
            lines = [(12, 720, lines)]
        stream = " ".join(
            f"BT /F1 {size} Tf 72 {y} Td ({text}) Tj ET" for size, y, text in lines
        ).encode()
        content_id = len(objects) + 2
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> "
            ">> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        kids.append(f"{len(objects) - 1} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    out.write(trailer.encode())
    return out.getvalue()


def test_pdf_text_keeps_its_page_number():
    pdf = _pdf(["Sick days need a note after three days.", "Holidays are booked in the HR tool."])
    drafts = chunk_blocks(read_blocks(pdf, "pdf"), size=500, overlap=0)
    assert [(d.text, d.location) for d in drafts] == [
        ("Sick days need a note after three days.", "page 1"),
        ("Holidays are booked in the HR tool.", "page 2"),
    ]


def test_pdf_headings_and_paragraphs_come_from_the_layout():
    """No blank lines in the text layer (as Word or a browser exports it): headings by their
    size, paragraphs by the gaps between lines, a hyphenated line break joined."""
    pdf = _pdf(
        [
            [
                (20, 750, "Staff handbook"),
                (11, 720, "This handbook applies to every"),
                (11, 706, "employee from the first day."),
                (15, 676, "Leave"),
                (11, 650, "Staff get twelve sick days a"),
                (11, 636, "year with a note from a doctor."),
                (11, 608, "Holidays are booked two weeks ahead in the self-"),
                (11, 594, "service portal."),
                (15, 564, "Expenses"),
                (11, 540, "Keep receipts over 25 euros."),
            ],
            [(11, 720, "Expenses are paid with the next salary.")],
        ]
    )
    blocks = read_blocks(pdf, "pdf")
    top, leave, expenses = (
        ("Staff handbook",),
        ("Staff handbook", "Leave"),
        ("Staff handbook", "Expenses"),
    )
    assert [(b.headings, b.location, b.text) for b in blocks] == [
        (top, "page 1", "This handbook applies to every employee from the first day."),
        (leave, "page 1", "Staff get twelve sick days a year with a note from a doctor."),
        (leave, "page 1", "Holidays are booked two weeks ahead in the self-service portal."),
        (expenses, "page 1", "Keep receipts over 25 euros."),
        (expenses, "page 2", "Expenses are paid with the next salary."),
    ]
    drafts = chunk_blocks(blocks, size=500, overlap=0)
    assert [(d.heading, d.location) for d in drafts] == [
        ("Staff handbook", "page 1"),
        ("Staff handbook › Leave", "page 1"),
        ("Staff handbook › Expenses", "page 1"),
        ("Staff handbook › Expenses", "page 2"),
    ]


def test_a_damaged_pdf_is_unreadable_with_a_reason():
    with pytest.raises(Unreadable, match="PDF"):
        read_blocks(b"%PDF-1.4\nthis is not really a pdf", "pdf")


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("Handbook.MD", "", "md"),
        ("page.htm", "", "html"),
        ("rows.ndjson", "", "jsonl"),
        ("noext", "application/pdf", "pdf"),
        ("noext", "text/html; charset=utf-8", "html"),
        ("image.png", "image/png", None),
    ],
)
def test_format_from_name_or_content_type(name, content_type, expected):
    assert format_for(name, content_type) == expected

"""The knowledge page in a browser: create a base, upload a document, watch it become ready,
try a query and read the ranked chunks, browse the chunks."""

import pytest
from playwright.sync_api import expect

from knowledge.models import Document, KnowledgeBase
from workspaces.models import Role

from .conftest import login
from .test_csp import no_violations, watch_csp

pytestmark = pytest.mark.e2e

HANDBOOK = """# Staff handbook

## Leave

Staff get twelve sick days a year. A doctor's note is needed after three days in a row.

Holidays are booked in the HR tool at least two weeks ahead.

## Equipment

Laptops are replaced every three years by the IT desk on the second floor.

## Expenses

Keep receipts for anything over 25 euros and submit them within a month.
"""


def test_upload_a_document_wait_for_ready_and_try_a_query(page, member, artifacts, tmp_path):
    editor = member(Role.EDITOR, username="kira")
    complaints = watch_csp(page)
    login(page, editor)
    page.get_by_role("link", name="Knowledge").click()
    expect(page.get_by_role("heading", name="No knowledge bases in Acme yet")).to_be_visible()
    page.screenshot(path=str(artifacts / "knowledge-empty.png"))

    page.get_by_label("Name").fill("Handbook")
    page.get_by_label("Chunk size").fill("300")
    page.get_by_label("Overlap").fill("0")
    page.get_by_role("button", name="Create knowledge base").click()
    expect(page.get_by_role("heading", name="Handbook", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="No documents yet")).to_be_visible()
    # The scripted server stands in for an embedding provider (the live server's openai).
    KnowledgeBase.objects.filter(name="Handbook").update(
        embedding_model="openai/text-embedding-3-small"
    )

    path = tmp_path / "handbook.md"
    path.write_text(HANDBOOK)
    page.get_by_label("Upload a file").set_input_files(str(path))
    page.get_by_role("button", name="Upload", exact=True).click()
    row = page.locator("tr[data-document]")
    expect(row).to_contain_text("handbook.md")
    expect(row.locator(".sb-badge")).to_have_text("Ready", timeout=30_000)
    expect(page.locator("[data-documents]")).to_have_attribute("data-polling", "false")
    assert Document.objects.get().chunks.count() == 3

    page.get_by_label("Question").fill("How many sick days do staff get?")
    page.get_by_role("button", name="Search").click()
    hits = page.locator("[data-hit]")
    expect(hits.first).to_contain_text("twelve sick days")
    expect(hits.first.locator("[data-found-by]")).to_have_text("found by meaning + words")
    expect(hits.first.locator("[data-score]")).to_have_text("score 1.00")
    expect(hits.first).to_contain_text("Staff handbook › Leave")
    page.screenshot(path=str(artifacts / "knowledge-query.png"), full_page=True)
    no_violations(page, complaints, "the knowledge base page")

    page.get_by_label("Meaning").fill("0")
    page.get_by_label("Question").fill("laptops")
    page.get_by_role("button", name="Search").click()
    expect(hits.first).to_contain_text("Laptops are replaced")
    expect(hits.first.locator("[data-found-by]")).to_have_text("found by words")

    page.get_by_role("link", name="Chunks").first.click()
    expect(page.locator("[data-chunk]")).to_have_count(3)
    expect(page.locator("[data-chunk]").first).to_contain_text("Staff handbook › Leave")
    page.screenshot(path=str(artifacts / "knowledge-chunks.png"), full_page=True)

    page.get_by_role("link", name="Knowledge", exact=True).first.click()
    expect(page.locator("[data-kb-table]")).to_contain_text("Handbook")
    page.screenshot(path=str(artifacts / "knowledge-list.png"))
    no_violations(page, complaints, "the knowledge list")


def test_the_run_page_shows_the_retrieved_chunks_with_their_sources(
    page, member, workspace, llm_server, artifacts
):
    from builder.services import flow_create
    from knowledge import services
    from knowledge.ingestion import document_ingest
    from runs.executor import InlineExecutor
    from runs.services import run_start
    from tests.knowledge.test_retrieve_node import answer_flow

    editor = member(Role.EDITOR, username="kira")
    kb = services.kb_create(user=editor, workspace_id=workspace.pk, name="Handbook",
                            chunk_size=300, chunk_overlap=0,
                            embedding_model="openai/text-embedding-3-small")  # fmt: skip
    document = services.document_add_text(user=editor, kb=kb, title="Staff handbook",
                                          text=HANDBOOK, file_format="md")  # fmt: skip
    assert document_ingest(document_id=document.pk, worker="test") == "ready"
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Answer",
                       graph=answer_flow("Handbook"))  # fmt: skip
    run = run_start(user=editor, flow=flow, inputs={"question": "How many sick days?"})
    InlineExecutor().advance(run.pk)

    login(page, editor)
    page.goto(f"/runs/{run.pk}/")
    page.locator('[data-step-node="find"] .sb-step-head').click()
    chunks = page.locator("[data-retrieved-chunk]")
    expect(chunks).to_have_count(2)
    expect(chunks.first).to_contain_text("Staff handbook")
    expect(chunks.first).to_contain_text("Staff handbook › Leave")
    expect(chunks.first).to_contain_text("score 1.00")
    expect(chunks.first).to_contain_text("found by meaning + words")
    expect(chunks.first).to_contain_text("twelve sick days")
    page.screenshot(path=str(artifacts / "knowledge-run-step.png"))

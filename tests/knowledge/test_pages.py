"""The knowledge pages: list, create, documents with progress, upload, try a query, chunks;
roles and other workspaces."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from knowledge import services
from knowledge.models import Document, KnowledgeBase
from runs.executor import InlineExecutor, set_executor
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def inline_ingest(llm_server):
    set_executor(InlineExecutor())
    yield llm_server
    set_executor(None)


def test_pages_require_login(client, kb):
    for path in ("/knowledge/", f"/knowledge/{kb.pk}/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_empty_list_invites_an_editor_to_create_one(editor, workspace):
    page = client_for(editor).get("/knowledge/").content.decode()
    assert "No knowledge bases in Acme yet" in page and "New knowledge base" in page
    assert 'aria-current="page">Knowledge</a>' in page


def test_create_from_the_page_and_refuse_a_bad_size(editor, workspace):
    client = client_for(editor)
    response = client.post(f"/knowledge/?workspace={workspace.pk}", {"name": "FAQ", "size": "800",
                                                                    "overlap": "50"})  # fmt: skip
    kb = KnowledgeBase.objects.get(name="FAQ")
    assert response.status_code == 302 and response["Location"] == f"/knowledge/{kb.pk}/"
    assert (kb.chunk_size, kb.chunk_overlap) == (800, 50)
    bad = client.post("/knowledge/", {"name": "Tiny", "size": "10"})
    assert bad.status_code == 422 and "Chunk size must be between" in bad.content.decode()
    assert "FAQ" in client.get("/knowledge/").content.decode()


def test_documents_show_progress_and_poll_until_ready(editor, kb):
    document = services.document_add_text(user=editor, kb=kb, title="Notes", text="Some notes.")
    Document.objects.filter(pk=document.pk).update(status="processing", chunks_total=10,
                                                   chunks_done=4)  # fmt: skip
    page = client_for(editor).get(f"/knowledge/{kb.pk}/").content.decode()
    assert '<progress class="kb-progress" max="100" value="40"' in page
    assert 'hx-trigger="every 1s"' in page and "Embedding" in page
    Document.objects.filter(pk=document.pk).update(status="ready", chunks_done=10)
    fragment = client_for(editor).get(f"/knowledge/{kb.pk}/documents/").content.decode()
    assert "hx-trigger" not in fragment and "Ready" in fragment and "<progress" not in fragment


def test_upload_from_the_page_then_try_a_query(editor, kb, inline_ingest,
                                               django_capture_on_commit_callbacks):  # fmt: skip
    client = client_for(editor)
    handbook = (
        b"# Leave\n\nStaff get twelve sick days a year.\n\n# Parking\n\nBikes go in the shed."
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/knowledge/{kb.pk}/add/",
                               {"file": SimpleUploadedFile("handbook.md", handbook)})  # fmt: skip
    assert response.status_code == 302
    page = client.get(f"/knowledge/{kb.pk}/").content.decode()
    assert "handbook.md" in page and "Ready" in page
    results = client.post(f"/knowledge/{kb.pk}/try/", {"query": "sick days", "weight": "0.5"})
    html = results.content.decode()
    first_hit = html.split("data-hit ")[1].split("</li>")[0]
    assert "twelve sick days" in first_hit
    assert "found by meaning + words" in html and "score 1.00" in html
    assert "handbook.md</strong> · Leave" in html
    words = client.post(f"/knowledge/{kb.pk}/try/", {"query": "shed", "weight": "0"})
    assert "found by words" in words.content.decode()
    nothing = client.post(f"/knowledge/{kb.pk}/try/", {"query": "?!"}).content.decode()
    assert "Nothing found" in nothing
    document = Document.objects.get(knowledge_base=kb)
    chunks = client.get(f"/knowledge/documents/{document.pk}/").content.decode()
    assert "Staff get twelve sick days a year." in chunks and "#1" in chunks


def test_upload_errors_are_shown_on_the_page(editor, kb, settings):
    client = client_for(editor)
    image = client.post(f"/knowledge/{kb.pk}/add/", {"file": SimpleUploadedFile("a.png", b"x")})
    assert (
        image.status_code == 422 and "is not a file type that can be read" in image.content.decode()
    )
    settings.KNOWLEDGE_MAX_DOCUMENT_BYTES = 10
    big = client.post(f"/knowledge/{kb.pk}/add/", {"title": "t", "text": "much more than ten"})
    assert big.status_code == 413 and "the limit is" in big.content.decode()
    empty = client.post(f"/knowledge/{kb.pk}/add/", {"text": "  "})
    assert empty.status_code == 422 and "paste some text" in empty.content.decode()
    assert not Document.objects.exists()


def test_viewers_see_documents_but_no_upload(member, kb, editor):
    services.document_add_text(user=editor, kb=kb, title="Notes", text="Some notes.")
    viewer = client_for(member(Role.VIEWER, "kb-viewer"))
    page = viewer.get(f"/knowledge/{kb.pk}/").content.decode()
    assert "Notes" in page and "Add documents" not in page and "Delete" not in page
    refused = viewer.post(f"/knowledge/{kb.pk}/add/", {"text": "sneaky"})
    assert refused.status_code == 403 and Document.objects.count() == 1
    document = Document.objects.get()
    assert viewer.post(f"/knowledge/documents/{document.pk}/delete/").status_code == 403


def test_another_workspace_gets_404_on_every_page(make_user, other_workspace, kb, editor):
    document = services.document_add_text(user=editor, kb=kb, title="Secret", text="Launch day.")
    outsider = make_user("outsider")
    Membership.objects.create(workspace=other_workspace, user=outsider, role=Role.OWNER)
    client = client_for(outsider)
    for path in (f"/knowledge/{kb.pk}/", f"/knowledge/{kb.pk}/documents/",
                 f"/knowledge/documents/{document.pk}/"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    assert client.post(f"/knowledge/{kb.pk}/try/", {"query": "launch"}).status_code == 404
    assert client.post(f"/knowledge/documents/{document.pk}/delete/").status_code == 404
    assert "Secret" not in client.get("/knowledge/").content.decode()
    assert Document.objects.filter(pk=document.pk).exists()

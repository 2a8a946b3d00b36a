"""The knowledge API: create, add text/files/URLs, ingest, search; limits, duplicates, roles and
workspace scoping."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from knowledge.models import Chunk, Document
from runs.executor import InlineExecutor, set_executor
from workspaces.models import Role

from .conftest import SCRIPTED_MODEL

pytestmark = pytest.mark.django_db


@pytest.fixture
def inline_ingest(llm_server):
    set_executor(InlineExecutor())
    yield llm_server
    set_executor(None)


@pytest.fixture
def editor_api(api_for, editor):
    return api_for(editor)


def _create(api, workspace, **extra):
    body = {"workspace": workspace.pk, "name": "Handbook", "embedding_model": SCRIPTED_MODEL}
    response = api.post("/api/knowledge-bases", {**body, **extra})
    assert response.status_code == 201, response.json()
    return response.json()


def test_add_text_ingests_in_the_background_and_searches(
    editor_api, workspace, inline_ingest, django_capture_on_commit_callbacks
):
    kb = _create(editor_api, workspace, chunk_size=200, chunk_overlap=20)
    text = (
        "# Leave\n\nStaff get twelve sick days a year.\n\n"
        "# Expenses\n\nKeep receipts over 25 euros."
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_api.post(
            f"/api/knowledge-bases/{kb['id']}/documents",
            {"kind": "text", "title": "Handbook", "text": text, "format": "md"},
        )
    assert response.status_code == 201, response.json()
    document = editor_api.get(f"/api/documents/{response.json()['id']}").json()
    assert document["status"] == "ready" and document["progress"] == 100
    assert document["chunks_total"] == document["chunks_done"] == 2
    chunks = editor_api.get(f"/api/documents/{document['id']}/chunks").json()
    assert [c["heading"] for c in chunks] == ["Leave", "Expenses"]
    assert all(c["embedding_model"] == SCRIPTED_MODEL for c in chunks)
    found = editor_api.post(
        f"/api/knowledge-bases/{kb['id']}/search", {"query": "how many sick days", "top_k": 1}
    ).json()
    assert found["hits"][0]["text"] == "Staff get twelve sick days a year."
    assert found["hits"][0]["retriever"] == "both" and found["hits"][0]["source"] == "Handbook"


def test_upload_a_file_and_refuse_duplicates_unsupported_and_oversized(
    editor_api, workspace, inline_ingest, django_capture_on_commit_callbacks, settings
):
    kb = _create(editor_api, workspace)
    path = f"/api/knowledge-bases/{kb['id']}/documents/upload"
    csv = b"question,answer\nWhere do bikes go?,In the shed behind building B\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_api.client.post(path, {"file": SimpleUploadedFile("faq.csv", csv)})
    assert response.status_code == 201, response.json()
    assert Document.objects.get(pk=response.json()["id"]).status == "ready"
    chunk = Chunk.objects.get(document_id=response.json()["id"])
    assert chunk.location == "row 1" and "building B" in chunk.text

    again = editor_api.client.post(path, {"file": SimpleUploadedFile("copy.csv", csv)})
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_document"
    assert again.json()["document"] == response.json()["id"]

    image = editor_api.client.post(path, {"file": SimpleUploadedFile("x.png", b"\x89PNG...")})
    assert image.status_code == 422 and image.json()["code"] == "unsupported_format"
    assert "x.png" in image.json()["detail"]

    settings.KNOWLEDGE_MAX_DOCUMENT_BYTES = 1000
    big = editor_api.client.post(path, {"file": SimpleUploadedFile("big.txt", b"word " * 400)})
    assert big.status_code == 413 and big.json()["code"] == "document_too_large"
    assert Document.objects.filter(knowledge_base_id=kb["id"]).count() == 1


def test_unreadable_documents_fail_with_a_reason_and_can_be_retried(
    editor_api, workspace, inline_ingest, django_capture_on_commit_callbacks
):
    kb = _create(editor_api, workspace)
    path = f"/api/knowledge-bases/{kb['id']}/documents/upload"
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_api.client.post(
            path, {"file": SimpleUploadedFile("broken.pdf", b"%PDF-1.4 not really")}
        )
    document = editor_api.get(f"/api/documents/{response.json()['id']}").json()
    assert document["status"] == "failed" and document["error_code"] == "unreadable"
    assert "PDF" in document["error_message"]
    with django_capture_on_commit_callbacks(execute=True):
        retried = editor_api.post(f"/api/documents/{document['id']}/reindex")
    assert retried.status_code == 200
    assert editor_api.get(f"/api/documents/{document['id']}").json()["status"] == "failed"


def test_embedding_failures_fail_the_document_with_the_providers_reason(
    editor_api, workspace, inline_ingest, django_capture_on_commit_callbacks
):
    from tests.llmserver import http_error

    kb = _create(editor_api, workspace)
    inline_ingest.script_embeddings(http_error(401))
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_api.post(
            f"/api/knowledge-bases/{kb['id']}/documents", {"kind": "text", "text": "Some text."}
        )
    document = editor_api.get(f"/api/documents/{response.json()['id']}").json()
    assert document["status"] == "failed" and document["error_code"] == "embedding_auth_error"
    assert "OPENAI_API_KEY" in document["error_message"]
    assert "sk-test" not in document["error_message"]


def test_urls_are_fetched_through_the_ssrf_guard(editor_api, workspace, llm_server):
    kb = _create(editor_api, workspace)
    for url in (llm_server.base_url + "/models", "http://169.254.169.254/latest", "file:///etc"):
        response = editor_api.post(
            f"/api/knowledge-bases/{kb['id']}/documents", {"kind": "url", "url": url}
        )
        assert response.status_code == 422, url
        assert response.json()["code"].startswith("url_")
    assert not Document.objects.exists()


def test_changing_chunking_reindexes_every_document(
    editor_api, workspace, inline_ingest, django_capture_on_commit_callbacks
):
    kb = _create(editor_api, workspace, chunk_size=1000, chunk_overlap=0)
    text = "\n\n".join(f"Paragraph {i} " + "filler words here " * 8 for i in range(6))
    with django_capture_on_commit_callbacks(execute=True):
        doc = editor_api.post(
            f"/api/knowledge-bases/{kb['id']}/documents", {"kind": "text", "text": text}
        ).json()
    assert Chunk.objects.filter(document_id=doc["id"]).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        patched = editor_api.patch(f"/api/knowledge-bases/{kb['id']}", {"chunk_size": 200})
    assert patched.json()["revision"] == 2
    chunks = Chunk.objects.filter(document_id=doc["id"])
    assert chunks.count() == 6 and set(chunks.values_list("revision", flat=True)) == {2}
    assert Document.objects.get(pk=doc["id"]).status == "ready"
    bad = editor_api.patch(f"/api/knowledge-bases/{kb['id']}", {"chunk_overlap": 150})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_chunking"


def test_unknown_embedding_models_and_duplicate_names_are_refused(editor_api, workspace):
    _create(editor_api, workspace)
    again = editor_api.post("/api/knowledge-bases", {"workspace": workspace.pk, "name": "Handbook"})
    assert again.status_code == 409
    unknown = editor_api.post(
        "/api/knowledge-bases",
        {"workspace": workspace.pk, "name": "B", "embedding_model": "nowhere/model"},
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_embedding_model"


def test_viewers_read_but_cannot_write(api_for, member, editor_api, workspace, llm_server):
    kb = _create(editor_api, workspace)
    viewer = api_for(member(Role.VIEWER, "kb-viewer"))
    assert viewer.get(f"/api/knowledge-bases/{kb['id']}").status_code == 200
    assert viewer.get(f"/api/knowledge-bases?workspace={workspace.pk}").json()[0]["id"] == kb["id"]
    add = viewer.post(f"/api/knowledge-bases/{kb['id']}/documents", {"kind": "text", "text": "x"})
    assert add.status_code == 403
    assert viewer.delete(f"/api/knowledge-bases/{kb['id']}").status_code == 403
    create = viewer.post("/api/knowledge-bases", {"workspace": workspace.pk, "name": "Mine"})
    assert create.status_code == 403


def test_another_workspace_gets_404_on_bases_documents_and_chunks(
    api_for, make_user, other_workspace, editor_api, workspace, add_text, kb
):
    from workspaces.models import Membership

    document = add_text(kb, "Secret", "The launch date is the fourth of May.")
    chunk = document.chunks.get()
    outsider = make_user("outsider")
    Membership.objects.create(workspace=other_workspace, user=outsider, role=Role.OWNER)
    api = api_for(outsider)
    for path in (
        f"/api/knowledge-bases/{kb.pk}",
        f"/api/knowledge-bases/{kb.pk}/documents",
        f"/api/documents/{document.pk}",
        f"/api/documents/{document.pk}/chunks",
        f"/api/chunks/{chunk.pk}",
    ):
        assert api.get(path).status_code == 404, path
    assert api.post(f"/api/knowledge-bases/{kb.pk}/search", {"query": "launch"}).status_code == 404
    assert api.delete(f"/api/documents/{document.pk}").status_code == 404
    assert api.get("/api/knowledge-bases").json() == []
    assert api_for(None).get(f"/api/knowledge-bases/{kb.pk}").status_code == 401


def test_a_fetched_page_is_stored_with_its_title_and_headings(editor, kb, add_text):
    """The one loopback test server is admitted by an exact-address policy, as in the HTTP tool's
    tests; the API itself always uses the public-only policy (above)."""
    import ipaddress
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from knowledge import services
    from knowledge.ingestion import document_ingest

    page = b"<html><head><title>Refund policy</title></head><body><h1>Refunds</h1>" \
           b"<p>Refunds within 30 days with a receipt.</p></body></html>"  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        loopback = ipaddress.ip_address("127.0.0.1")
        document = services.document_add_url(
            user=editor,
            kb=kb,
            url=f"http://127.0.0.1:{server.server_address[1]}/policy",
            address_allowed=lambda address: address == loopback,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert document.title == "Refund policy" and document.file_format == "html"
    assert document_ingest(document_id=document.pk, worker="w") == "ready"
    chunk = document.chunks.get()
    assert (chunk.heading, chunk.text) == ("Refunds", "Refunds within 30 days with a receipt.")

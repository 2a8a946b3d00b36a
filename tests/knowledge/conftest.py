"""Knowledge-base fixtures: a base embedding through the scripted server's /v1/embeddings."""

import pytest

from knowledge import services
from knowledge.ingestion import document_ingest
from tests.runs.support import fast_passwords  # noqa: F401
from workspaces.models import Role

SCRIPTED_MODEL = "openai/text-embedding-3-small"


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "kb-editor")


@pytest.fixture
def kb(llm_server, editor, workspace):
    """A knowledge base in `workspace` whose embeddings come from the scripted server."""
    return services.kb_create(
        user=editor,
        workspace_id=workspace.pk,
        name="Handbook",
        chunk_size=300,
        chunk_overlap=0,
        embedding_model=SCRIPTED_MODEL,
    )


@pytest.fixture
def add_text(editor):
    """Add a text document and ingest it in this thread; return the document."""

    def add(kb, title: str, text: str, file_format: str = "txt", **metadata):
        document = services.document_add_text(
            user=editor, kb=kb, title=title, text=text, file_format=file_format, metadata=metadata
        )
        status = document_ingest(document_id=document.pk, worker="test-worker")
        document.refresh_from_db()
        assert status == "ready", (document.error_code, document.error_message)
        return document

    return add

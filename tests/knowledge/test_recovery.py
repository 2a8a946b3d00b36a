"""Ingestion survives a killed worker: the sweeper takes the document back once its lease runs
out, keeps the chunks already embedded, and embeds only the rest."""

import sys
from collections import Counter

import pytest

from knowledge import services
from knowledge.models import Document
from knowledge.recovery import documents_sweep_and_kick, documents_to_recover
from runs.executor import InlineExecutor, set_executor
from tests.runs.support import Service, service_env, wait_until

from .conftest import SCRIPTED_MODEL

BATCH = 2


@pytest.mark.django_db(transaction=True)
def test_a_killed_ingestion_worker_is_resumed_without_embedding_twice(
    editor, workspace, llm_server
):
    kb = services.kb_create(
        user=editor,
        workspace_id=workspace.pk,
        name="Big",
        chunk_size=100,
        chunk_overlap=0,
        embedding_model=SCRIPTED_MODEL,
    )
    paragraphs = [f"Paragraph {i} says the code word is w{i} and nothing else." for i in range(10)]
    document = services.document_add_text(user=editor, kb=kb, title="Ten",
                                          text="\n\n".join(paragraphs))  # fmt: skip
    llm_server.embedding_latency = 0.5  # slow enough to be killed between two batches
    env = service_env(llm_server.base_url, KNOWLEDGE_LEASE_SECONDS="3",
                      KNOWLEDGE_EMBED_BATCH=str(BATCH))  # fmt: skip
    worker = Service(
        "ingest", [sys.executable, "manage.py", "knowledge_ingest", str(document.pk)], env
    ).start()
    try:
        wait_until(lambda: Document.objects.get(pk=document.pk).chunks_done >= 2 * BATCH, 60)
        worker.kill()
    except BaseException:
        print(worker.output())
        raise
    finally:
        worker.stop()
    killed = Document.objects.get(pk=document.pk)
    assert killed.status == "processing" and killed.lease_owner and killed.attempts == 1
    assert killed.chunks_total == 10 and killed.chunks_done < 10
    stored_before = set(
        killed.chunks.filter(embedding__isnull=False).values_list("text", flat=True)
    )
    assert len(stored_before) >= 2 * BATCH

    llm_server.embedding_latency = 0.0
    # Not taken back while its lease lasts; taken back once it has run out.
    wait_until(lambda: document.pk in documents_to_recover(), timeout=30, interval=0.2)
    set_executor(InlineExecutor())
    try:
        assert document.pk in documents_sweep_and_kick()
    finally:
        set_executor(None)

    resumed = Document.objects.get(pk=document.pk)
    assert resumed.status == "ready", (resumed.error_code, resumed.error_message)
    assert resumed.attempts == 2 and resumed.chunks_done == resumed.chunks_total == 10
    chunks = list(resumed.chunks.order_by("position"))
    assert [c.position for c in chunks] == list(range(10)) and all(c.embedding for c in chunks)
    sent = Counter(llm_server.embedded_texts)
    assert set(sent) == {c.text for c in chunks}
    # Chunks committed before the kill were never sent again; at most the batch in flight was.
    assert all(sent[text] == 1 for text in stored_before)
    assert sum(sent.values()) <= 10 + BATCH
    assert documents_to_recover() == []

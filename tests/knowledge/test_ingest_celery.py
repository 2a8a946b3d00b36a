"""Celery ingestion survives a SIGKILLed worker: a real worker (threads pool) on Redis and
PostgreSQL is killed between two batches; beat's sweeper kicks the document again once its lease
runs out, a fresh worker finishes it, and every chunk is stored once."""

import os
import time
from collections import Counter

import pytest
from django.db import connection

from knowledge import services
from knowledge.dispatch import kick_ingest
from knowledge.models import Document
from runs.executor import CeleryExecutor, set_executor
from tests.conftest import require_or_skip
from tests.runs.support import CeleryCluster, wait_until
from tests.runs.test_celery_worker import redis_available

from .conftest import SCRIPTED_MODEL

pytestmark = pytest.mark.integration

BATCH = 2


@pytest.fixture
def cluster(django_db_setup, llm_server, settings):
    require_or_skip(connection.vendor == "postgresql", "needs DATABASE_URL=postgres://…")
    redis_url = os.environ.get("REDIS_URL", "")
    require_or_skip(redis_available(redis_url), "Celery integration tests need REDIS_URL")
    cluster = CeleryCluster(
        llm_server.base_url,
        redis_url,
        SWITCHBOARD_SWEEP_SECONDS="1",
        KNOWLEDGE_LEASE_SECONDS="3",
        KNOWLEDGE_REKICK_SECONDS="2",
        KNOWLEDGE_EMBED_BATCH=str(BATCH),
    )
    cluster.purge()
    settings.SWITCHBOARD_EXECUTOR = "celery"
    settings.SWITCHBOARD_CELERY_QUEUE = cluster.queue
    set_executor(CeleryExecutor())
    try:
        yield cluster
    finally:
        set_executor(None)
        cluster.stop()


@pytest.mark.django_db(transaction=True)
def test_a_sigkilled_celery_worker_leaves_the_document_to_finish_ready(
    cluster, editor, workspace, llm_server
):
    kb = services.kb_create(
        user=editor,
        workspace_id=workspace.pk,
        name="Big",
        chunk_size=100,
        chunk_overlap=0,
        embedding_model=SCRIPTED_MODEL,
    )
    llm_server.embedding_latency = 0.5  # slow enough to be killed between two batches
    first = cluster.start_worker(concurrency=2)
    paragraphs = [f"Paragraph {i} says the code word is w{i} and nothing else." for i in range(10)]
    try:
        document = services.document_add_text(user=editor, kb=kb, title="Ten",
                                              text="\n\n".join(paragraphs))  # fmt: skip
        kick_ingest([document.pk])  # as the API does: a Celery task on the cluster's queue
        wait_until(lambda: Document.objects.get(pk=document.pk).chunks_done >= 2 * BATCH, 60)
        first.kill()
        killed = Document.objects.get(pk=document.pk)
        assert killed.status == "processing" and killed.chunks_done < 10
        stored_before = set(
            killed.chunks.filter(embedding__isnull=False).values_list("text", flat=True)
        )
        llm_server.embedding_latency = 0.0
        cluster.start_worker(concurrency=2)
        cluster.start_beat()  # the sweeper: takes the document back once the lease runs out
        wait_until(lambda: Document.objects.get(pk=document.pk).status != "processing", 90)
    except BaseException:
        for service in [*cluster.workers, *([cluster.beat] if cluster.beat else [])]:
            print(service.name, service.output())
        raise
    time.sleep(0.5)  # a duplicated kick, if any, would find nothing to claim
    done = Document.objects.get(pk=document.pk)
    assert done.status == "ready", (done.error_code, done.error_message)
    assert done.attempts >= 2 and done.chunks_done == done.chunks_total == 10
    chunks = list(done.chunks.order_by("position"))
    assert [c.position for c in chunks] == list(range(10))
    assert len({c.text for c in chunks}) == 10 and all(c.embedding for c in chunks)
    sent = Counter(llm_server.embedded_texts)
    assert set(sent) == {c.text for c in chunks}
    assert all(sent[text] == 1 for text in stored_before)  # committed batches not sent again

"""The index a process holds follows the base's changes by the delta: after adding, deleting and
re-indexing documents, and after another connection's change, searches rank exactly as a fresh
build's, without building again. Runs on whichever database the session uses."""

import threading

import pytest
from django.db import connection

from knowledge import services
from knowledge.ingestion import document_ingest
from knowledge.models import ChunkChange
from knowledge.search import index, search

from .test_search import CORPUS

QUERIES = [
    "How many sick days do staff get?",
    "holiday booking in the HR tool",
    "broken laptop replaced",
    "receipts for expenses",
    "where do bicycles go",
    "bonus paid each quarter",
]


@pytest.fixture(params=["exact", "sign-bit pool"])
def scan(request, settings):
    """Both vector paths: the exact scan, and the sign-bit first pass with a pool of 3."""
    if request.param != "exact":
        settings.KNOWLEDGE_EXACT_SCAN_MAX = 0
        settings.KNOWLEDGE_POOL = 3
    return request.param


@pytest.fixture
def corpus(kb, add_text, scan):
    return {title: add_text(kb, title, text) for title, text in CORPUS.items()}


def ranking(kb):
    return [
        [
            (h.chunk_id, round(h.score, 6), h.vector_rank, h.lexical_rank)
            for h in search([kb], query, top_k=5, hybrid_weight=weight).hits
        ]
        for query in QUERIES
        for weight in (0.0, 0.5, 1.0)
    ]


def held(kb) -> index.BaseIndex:
    return index._held[kb.pk]


def assert_ranks_as_a_fresh_build(kb) -> list:
    kept = held(kb)
    got = ranking(kb)
    assert held(kb) is kept
    index._held.pop(kb.pk)
    assert ranking(kb) == got
    assert held(kb) is not kept and held(kb).builds == 2
    return got


def titles(kb, query, weight=0.5):
    return [h.title for h in search([kb], query, top_k=5, hybrid_weight=weight).hits]


@pytest.mark.django_db
def test_an_added_document_reaches_the_held_index_by_the_delta(kb, corpus, add_text):
    ranking(kb)  # builds the vectors and the postings
    kept = held(kb)
    assert (kept.builds, kept.deltas) == (2, 0)
    add_text(kb, "Bonus", "A bonus is paid each quarter to staff who met their goals.")
    assert titles(kb, "bonus paid each quarter")[0] == "Bonus"
    assert titles(kb, "bonus paid each quarter", weight=1.0)[0] == "Bonus"
    assert held(kb) is kept and kept.builds == 2 and kept.deltas == 1
    assert_ranks_as_a_fresh_build(kb)


@pytest.mark.django_db
def test_a_deleted_document_leaves_the_held_index_by_the_delta(kb, corpus):
    before = ranking(kb)
    kept = held(kb)
    services.document_delete(document=corpus["Laptops"])
    for weight in (0.0, 0.5, 1.0):
        assert "Laptops" not in titles(kb, "broken laptop replaced", weight)
    assert held(kb) is kept and kept.builds == 2 and kept.deltas == 1
    assert assert_ranks_as_a_fresh_build(kb) != before


@pytest.mark.django_db
def test_each_embedding_batch_is_applied_as_it_commits(kb, editor, settings, scan):
    settings.KNOWLEDGE_EMBED_BATCH = 2
    text = "\n\n".join(f"# Section {i}\n\nThe rules of topic{i}." for i in range(5))
    document = services.document_add_text(
        user=editor, kb=kb, title="Rules", text=text, file_format="md"
    )
    search([kb], "topic3 rules", top_k=3)  # an empty base, held before the document comes
    kept = held(kb)
    ranking(kb)
    assert document_ingest(document_id=document.pk, worker="w") == "ready"
    changes = ChunkChange.objects.filter(knowledge_base=kb).order_by("version")
    named = [(c.document_id, c.chunk_ids) for c in changes]
    assert named[0] == (document.pk, None)  # the chunks stored
    assert [len(ids) for _, ids in named[1:]] == [2, 2, 1]  # five chunks, three embedding batches
    assert titles(kb, "topic3 rules", weight=1.0)
    assert held(kb) is kept and kept.deltas == 1
    assert_ranks_as_a_fresh_build(kb)


@pytest.mark.django_db
def test_reindexing_with_a_new_chunk_size_ranks_as_a_fresh_build(kb, corpus, add_text):
    ranking(kb)
    kb, to_ingest = services.kb_update(kb=kb, changes={"chunk_size": 120})
    for document_id in to_ingest:
        document_ingest(document_id=document_id, worker="w")
        ranking(kb)  # each document arrives by the delta on the new revision's index
    assert held(kb).deltas >= len(to_ingest) - 1
    assert titles(kb, "How many sick days do staff get?")[0] == "Sick days"
    assert_ranks_as_a_fresh_build(kb)


@pytest.mark.django_db
def test_changes_no_longer_kept_build_the_index_anew(kb, corpus, add_text):
    ranking(kb)
    kept = held(kb)
    add_text(kb, "Bonus", "A bonus is paid each quarter to staff who met their goals.")
    ChunkChange.objects.filter(knowledge_base=kb).delete()  # pruned
    assert titles(kb, "bonus paid each quarter")[0] == "Bonus"
    assert held(kb) is kept and kept.deltas == 0 and kept.builds == 4
    assert_ranks_as_a_fresh_build(kb)


@pytest.mark.django_db(transaction=True)
def test_another_connections_change_is_seen_by_the_next_search(kb, corpus, add_text):
    ranking(kb)
    kept = held(kb)
    done = []

    def elsewhere():
        try:
            add_text(kb, "Bonus", "A bonus is paid each quarter to staff who met their goals.")
            services.document_delete(document=corpus["Parking"])
            done.append(True)
        finally:
            connection.close()

    worker = threading.Thread(target=elsewhere)
    worker.start()
    worker.join()
    assert done
    assert titles(kb, "bonus paid each quarter")[0] == "Bonus"
    assert "Parking" not in titles(kb, "where do bicycles go")
    assert held(kb) is kept and kept.builds == 2 and kept.deltas == 1
    assert_ranks_as_a_fresh_build(kb)


@pytest.mark.django_db
def test_old_changes_are_pruned_and_a_process_that_far_behind_builds_anew(kb, corpus, settings):
    settings.KNOWLEDGE_CHUNK_CHANGES_KEPT = 30
    ranking(kb)
    kept = held(kb)
    document = corpus["Parking"]
    while kb.chunks_changed(document_id=document.pk) % 100:
        pass
    versions = list(ChunkChange.objects.filter(knowledge_base=kb).values_list("version", flat=True))
    assert versions == list(range(kb.chunks_version - 29, kb.chunks_version + 1))
    assert titles(kb, "where do bicycles go")[0] == "Parking"
    assert held(kb) is kept and kept.deltas == 0 and kept.builds == 4
    assert_ranks_as_a_fresh_build(kb)


@pytest.mark.django_db
def test_a_search_of_a_current_held_index_reads_rows_and_versions_in_one_statement(
    kb, corpus, django_assert_num_queries
):
    titles(kb, "where do bicycles go")  # held, and the query's vector recalled by the process
    with django_assert_num_queries(1) as statements:
        assert titles(kb, "where do bicycles go")[0] == "Parking"
    assert "chunks_version" in statements.captured_queries[0]["sql"]
    with django_assert_num_queries(1):  # words only: no query vector to read
        assert titles(kb, "where do bicycles go", weight=0.0)[0] == "Parking"


@pytest.mark.django_db
def test_a_base_changed_since_the_held_index_is_searched_again_after_the_delta(
    kb, corpus, django_assert_num_queries
):
    ranking(kb)
    kept = held(kb)
    services.document_delete(document=corpus["Parking"])
    with django_assert_num_queries(4) as statements:
        # rows + versions (stale); the changes; the changed rows (none: the document is
        # gone); rows + versions again, now current
        found = titles(kb, "where do bicycles go")
    assert "Parking" not in found
    rows_and_versions = [q for q in statements.captured_queries if "chunks_version" in q["sql"]]
    assert len(rows_and_versions) == 2
    assert held(kb) is kept and kept.deltas == 1

"""Hybrid retrieval on a fixed corpus: fusion, each retriever alone, thresholds and filters.

Runs on whichever database the session uses (SQLite FTS5, or PostgreSQL full-text search when
DATABASE_URL points at one)."""

import pytest

from knowledge import services
from knowledge.search import fuse, query_terms, search

CORPUS = {
    "Sick days": "Tell your manager before 10am when you are ill. Staff get twelve sick days a "
    "year, and a doctor's note is needed after three days in a row.",
    "Holidays": "Holidays are booked in the HR tool at least two weeks ahead. Twenty-five "
    "holiday days a year, plus public holidays.",
    "Expenses": "Keep receipts for any expense over 25 euros and submit them within a month "
    "through the finance portal.",
    "Laptops": "Laptops are replaced every three years. A broken laptop goes to the IT desk "
    "on the second floor.",
    "Parking": "The car park opens at 7am. Bicycles go in the shed behind building B.",
}


@pytest.fixture
def corpus(kb, add_text):
    documents = {}
    for title, text in CORPUS.items():
        team = "people" if title in ("Sick days", "Holidays") else "operations"
        documents[title] = add_text(kb, title, text, team=team)
    return documents


def titles(result):
    return [hit.title for hit in result.hits]


def test_fuse_rewards_agreement_and_weights_each_list():
    vector = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [3, 4, 1]
    fused = fuse(vector, lexical, hybrid_weight=0.5)
    assert [c for c, *_ in fused][:2] == [1, 3]  # in both lists beats first in one
    assert fused[0][2:] == (1, 3)
    assert fused[0][1] == pytest.approx((1 / 61 + 1 / 63) / 2 * 61)
    # First in both lists scores exactly 1.
    assert fuse([(7, 0.5)], [7], hybrid_weight=0.3)[0][1] == pytest.approx(1.0)
    # Weight 1 ignores the lexical list entirely; 0 the vector one.
    assert [c for c, *_ in fuse(vector, lexical, hybrid_weight=1.0)] == [1, 2, 3]
    assert [c for c, *_ in fuse(vector, lexical, hybrid_weight=0.0)] == [3, 4, 1]


def test_query_terms_are_words_once_lowercased():
    assert query_terms('How many "sick" days? SICK_days; drop table') == [
        "how",
        "many",
        "sick",
        "days",
        "drop",
        "table",
    ]


@pytest.mark.django_db
def test_hybrid_search_ranks_the_answering_chunk_first(kb, corpus):
    result = search([kb], "How many sick days do staff get?", top_k=3)
    assert titles(result)[0] == "Sick days"
    top = result.hits[0]
    assert top.retriever == "both" and top.vector_rank == 1 and top.lexical_rank == 1
    assert top.score == pytest.approx(1.0)
    assert top.source == "Sick days" and top.similarity > 0
    assert result.embedding_models == ["openai/text-embedding-3-small"]
    assert result.embedding_calls == 1 and result.tokens > 0


@pytest.mark.django_db
def test_lexical_only_makes_no_embedding_call_and_stems_words(kb, corpus, llm_server):
    before = len(llm_server.embedding_requests)
    result = search([kb], "replacing laptops", top_k=2, hybrid_weight=0.0)
    assert titles(result)[0] == "Laptops"
    assert all(hit.retriever == "lexical" for hit in result.hits)
    assert len(llm_server.embedding_requests) == before
    assert result.embedding_calls == 0


@pytest.mark.django_db
def test_vector_only_finds_by_embedding(kb, corpus):
    result = search([kb], "receipts expense euros", top_k=2, hybrid_weight=1.0)
    assert titles(result)[0] == "Expenses"
    assert all(hit.retriever == "vector" and hit.lexical_rank is None for hit in result.hits)


@pytest.mark.django_db
def test_min_score_drops_weak_meaning_matches_but_keeps_word_matches(kb, corpus):
    loose = search([kb], "bicycles shed", top_k=5, hybrid_weight=1.0)
    assert len(loose.hits) == 5
    strict = search([kb], "bicycles shed", top_k=5, hybrid_weight=1.0, min_score=0.2)
    assert titles(strict) == ["Parking"]
    assert all(hit.similarity >= 0.2 for hit in strict.hits)
    hybrid = search([kb], "bicycles shed", top_k=5, min_score=0.99)
    assert titles(hybrid) == ["Parking"] and hybrid.hits[0].retriever == "lexical"


@pytest.mark.django_db
def test_metadata_filters_limit_both_retrievers(kb, corpus):
    result = search([kb], "days a year", top_k=5, filters={"metadata.team": "operations"})
    assert result.hits and set(titles(result)) <= {"Expenses", "Laptops", "Parking"}
    by_document = search(
        [kb], "days", top_k=5, filters={"document": [corpus["Holidays"].pk]}, hybrid_weight=0.5
    )
    assert set(titles(by_document)) == {"Holidays"}
    assert search([kb], "days", filters={"format": "pdf"}).hits == []


@pytest.mark.django_db
def test_query_with_fts_syntax_is_searched_as_words(kb, corpus):
    result = search([kb], 'sick" OR NEAR(* -) AND "', top_k=3, hybrid_weight=0.0)
    assert titles(result)[0] == "Sick days"
    assert search([kb], "?!  ...", top_k=3).hits == []


@pytest.mark.django_db
def test_deleted_documents_leave_both_indexes(kb, corpus, add_text):
    # Searched once first, so the vectors held in memory must notice the changes.
    assert titles(search([kb], "bicycles shed", hybrid_weight=1.0))[0] == "Parking"
    services.document_delete(document=corpus["Parking"])
    add_text(kb, "Bike shed", "Bicycles are locked in the bike shed next to the car park.")
    assert titles(search([kb], "bicycles shed", hybrid_weight=1.0))[0] == "Bike shed"
    for weight in (0.0, 1.0):
        assert "Parking" not in titles(search([kb], "bicycles shed car park", hybrid_weight=weight))


@pytest.mark.django_db
def test_bad_filters_are_refused_with_the_reason(kb, corpus):
    from config.domain import Invalid

    with pytest.raises(Invalid, match="not a filter"):
        services.kb_search(kb=kb, query="days", filters={"secret; drop": "x"})


@pytest.mark.django_db
def test_reindexing_unchanged_text_embeds_nothing_again(kb, corpus, llm_server):
    from knowledge.ingestion import document_ingest

    before = len(llm_server.embedding_requests)
    services.document_reindex(document=corpus["Laptops"])
    assert document_ingest(document_id=corpus["Laptops"].pk, worker="again") == "ready"
    assert len(llm_server.embedding_requests) == before  # the cache answered
    assert titles(search([kb], "laptop IT desk", top_k=1)) == ["Laptops"]
    assert len(llm_server.embedding_requests) == before + 1  # only the new query
    search([kb], "laptop IT desk", top_k=1)
    assert len(llm_server.embedding_requests) == before + 1  # a repeated query is cached too


@pytest.mark.django_db
def test_a_vector_the_process_read_or_made_lately_costs_no_statement(
    kb, corpus, llm_server, django_assert_num_queries
):
    from knowledge.embeddings import embed_cached, forget_recent

    made = embed_cached(["a question never asked"], model=kb.embedding_model)
    assert made.calls == 1
    with django_assert_num_queries(0):
        again = embed_cached(["a question never asked"], model=kb.embedding_model)
    assert again.calls == 0 and again.cached == 1
    assert again.vectors[0].tolist() == made.vectors[0].tolist()
    with pytest.raises(ValueError):
        again.vectors[0][0] = 1.0  # shared with the next caller: read-only

    forget_recent()  # another process: the database's cache answers, with one statement
    with django_assert_num_queries(1):
        read = embed_cached(["a question never asked"], model=kb.embedding_model)
    assert read.calls == 0 and read.vectors[0].tolist() == made.vectors[0].tolist()
    both = embed_cached(["a question never asked", "another one"], model=kb.embedding_model)
    assert both.cached == 1 and both.calls == 1
    assert llm_server.embedding_requests[-1]["input"] == ["another one"]

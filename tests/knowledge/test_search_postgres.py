"""Lexical search on PostgreSQL: the same in-memory BM25 as on SQLite, no full-text index left."""

import pytest
from django.db import connection

from knowledge.search import lexical_search
from tests.conftest import require_or_skip

pytestmark = pytest.mark.integration


@pytest.mark.django_db
def test_postgres_lexical_search_stems_and_skips_stop_words(kb, add_text):
    require_or_skip(connection.vendor == "postgresql", "needs DATABASE_URL=postgres://…")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'knowledge_chunk_search'")
        assert cursor.fetchone() == (0,)  # dropped by migration 0004: nothing writes it
    laptops = add_text(kb, "Laptops", "Laptops are replaced every three years.")
    add_text(kb, "Parking", "The car park opens at 7am.")
    # "replacing" and "replaced" share the English stem; "the" is a stop word.
    assert lexical_search([kb], "the replacing", limit=5, allowed=None) == [laptops.chunks.get().pk]

"""The PostgreSQL path of lexical search: a generated tsvector with a GIN index, English stems."""

import pytest
from django.db import connection

from knowledge.search import lexical_search
from tests.conftest import require_or_skip

pytestmark = pytest.mark.integration


@pytest.mark.django_db
def test_postgres_lexical_search_uses_the_gin_indexed_tsvector(kb, add_text):
    require_or_skip(connection.vendor == "postgresql", "needs DATABASE_URL=postgres://…")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'knowledge_chunk' "
            "AND indexname = 'knowledge_chunk_search'"
        )
        (definition,) = cursor.fetchone()
    assert "gin" in definition.lower() and "search" in definition
    laptops = add_text(kb, "Laptops", "Laptops are replaced every three years.")
    add_text(kb, "Parking", "The car park opens at 7am.")
    # "replacing" and "replaced" share the English stem; "the" is a stop word.
    assert lexical_search([kb], "the replacing", limit=5, allowed=None) == [laptops.chunks.get().pk]

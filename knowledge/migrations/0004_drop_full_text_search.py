"""Drop the databases' full-text indexes of chunks (SQLite FTS5, PostgreSQL tsvector + GIN).

Lexical search ranks with BM25 over postings held in memory per knowledge base
(knowledge.search.lexical): the databases' own ranking scored every chunk that shared a word
with the query (26-150 ms a query at 100,000 chunks on SQLite), and the indexes only slowed
every chunk write down. Reversing this migration creates them again (0002's statements).
"""

from importlib import import_module

from django.db import migrations

full_text = import_module("knowledge.migrations.0002_full_text_search")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0003_chunks_version")]

    operations = [
        migrations.RunPython(
            full_text._run(
                {"sqlite": full_text.SQLITE_BACKWARD, "postgresql": full_text.POSTGRES_BACKWARD}
            ),
            full_text._run(
                {"sqlite": full_text.SQLITE_FORWARD, "postgresql": full_text.POSTGRES_FORWARD}
            ),
        )
    ]

"""The lexical index of chunks, per database: SQLite FTS5 (an external-content table kept in
step by triggers) or a PostgreSQL tsvector column with a GIN index.

The vectors need nothing here: they are float32 bytes on the chunk, searched exactly with numpy.
On SQLite, a later migration that rebuilds knowledge_chunk must create these triggers again.
"""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE knowledge_chunk_fts USING fts5(text, heading, content='knowledge_chunk', "
    "content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER knowledge_chunk_fts_insert AFTER INSERT ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading); END",
    "CREATE TRIGGER knowledge_chunk_fts_delete AFTER DELETE ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, text, heading) "
    "VALUES ('delete', old.id, old.text, old.heading); END",
    "CREATE TRIGGER knowledge_chunk_fts_update AFTER UPDATE OF text, heading ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, text, heading) "
    "VALUES ('delete', old.id, old.text, old.heading); "
    "INSERT INTO knowledge_chunk_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading); END",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_update",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_insert",
    "DROP TABLE IF EXISTS knowledge_chunk_fts",
]
POSTGRES_FORWARD = [
    "ALTER TABLE knowledge_chunk ADD COLUMN search tsvector GENERATED ALWAYS AS "
    "(setweight(to_tsvector('english', coalesce(heading, '')), 'B') || "
    "setweight(to_tsvector('english', text), 'A')) STORED",
    "CREATE INDEX knowledge_chunk_search ON knowledge_chunk USING GIN (search)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS knowledge_chunk_search",
    "ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS search",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]

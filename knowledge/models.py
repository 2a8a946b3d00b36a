"""Knowledge bases, their documents and chunks, and the embedding cache.

Files and chunks live in the database. A chunk's embedding is stored as float32 bytes beside
the id of the model that made it. Search reads both from here into an index held in memory per
knowledge base (knowledge.search.index), the same on SQLite and PostgreSQL.
"""

from django.conf import settings
from django.db import connection, models
from django.utils import timezone


def default_embedding_model() -> str:
    return settings.SWITCHBOARD_EMBEDDING_MODEL


class KnowledgeBase(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="knowledge_bases"
    )
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    #: Characters per chunk (at most) and characters repeated between neighbouring chunks.
    chunk_size = models.PositiveIntegerField(default=800)
    chunk_overlap = models.PositiveIntegerField(default=100)
    embedding_model = models.CharField(max_length=200, default=default_embedding_model)
    #: Bumped when chunking or the embedding model changes: documents indexed at an older
    #: revision are indexed again.
    revision = models.PositiveIntegerField(default=1)
    #: Bumped whenever its chunks or their embeddings change, so searches know when the vectors
    #: they hold in memory are stale without counting rows.
    chunks_version = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_knowledge_base_name")
        ]

    def __str__(self) -> str:
        return self.name

    def chunks_changed(
        self, *, document_id: int | None = None, chunk_ids: list[int] | None = None
    ) -> int:
        """Record that chunks of this base changed: those of `document_id` (only `chunk_ids`
        of it, if given), or any of them when no document is named. Call it inside the
        changing transaction; returns the base's new chunks_version."""
        with connection.cursor() as cursor:
            # The row lock this takes orders the base's changes: versions commit in sequence.
            cursor.execute(
                f"UPDATE {KnowledgeBase._meta.db_table} SET chunks_version = chunks_version + 1 "  # noqa: S608
                "WHERE id = %s RETURNING chunks_version",
                [self.pk],
            )
            (version,) = cursor.fetchone()
        ChunkChange.objects.create(
            knowledge_base_id=self.pk,
            version=version,
            document_id=document_id,
            chunk_ids=sorted(chunk_ids) if chunk_ids is not None else None,
        )
        self.chunks_version = version
        if version % CHUNK_CHANGES_PRUNE_EVERY == 0:
            ChunkChange.objects.filter(
                knowledge_base_id=self.pk,
                version__lte=version - settings.KNOWLEDGE_CHUNK_CHANGES_KEPT,
            ).delete()
        return version


#: Every this many changes, those older than the base's latest KNOWLEDGE_CHUNK_CHANGES_KEPT are
#: deleted: a process whose index is further behind builds it anew instead of applying them.
CHUNK_CHANGES_PRUNE_EVERY = 100


class ChunkChange(models.Model):
    """One change to a base's chunks, numbered by the chunks_version it made: a process that
    holds the base's index at an older version reloads only the chunks these name."""

    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="chunk_changes"
    )
    version = models.PositiveBigIntegerField()
    #: The document whose chunks changed (it may be gone); None: any chunk of the base.
    document_id = models.BigIntegerField(null=True)
    #: Only these chunks of the document changed (their embeddings, say); None: all of them.
    chunk_ids = models.JSONField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["knowledge_base", "version"], name="uniq_chunk_change_version"
            )
        ]


class SourceKind(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    TEXT = "text", "Text"
    URL = "url", "Web page"


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Document(models.Model):
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="documents"
    )
    title = models.CharField(max_length=300)
    source_kind = models.CharField(max_length=8, choices=SourceKind.choices)
    #: The file name or URL it came from (shown with every chunk as its citation).
    source = models.CharField(max_length=2048)
    #: txt, md, html, pdf, csv or jsonl: how `content` is read.
    file_format = models.CharField(max_length=8)
    content = models.BinaryField()
    content_hash = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED, db_index=True
    )
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    #: The knowledge base revision its chunks were made at (0: never indexed).
    indexed_revision = models.PositiveIntegerField(default=0)
    #: Ingestion attempts that started; a document whose worker keeps dying is failed.
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["knowledge_base", "content_hash"], name="uniq_document_content"
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def progress_percent(self) -> int:
        if self.status == DocumentStatus.READY:
            return 100
        if not self.chunks_total:
            return 0
        return min(100, round(100 * self.chunks_done / self.chunks_total))


class Chunk(models.Model):
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="chunks"
    )
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    #: Order within its document, from 0.
    position = models.PositiveIntegerField()
    text = models.TextField()
    #: The headings above it, outermost first ("Handbook › Leave › Sick days").
    heading = models.CharField(max_length=1000, blank=True)
    #: Where in the source: "page 3", "row 12" (empty for plain text).
    location = models.CharField(max_length=100, blank=True)
    text_hash = models.CharField(max_length=64)
    embedding = models.BinaryField(null=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    revision = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["document", "position"]
        constraints = [
            models.UniqueConstraint(fields=["document", "position"], name="uniq_chunk_position")
        ]
        indexes = [models.Index(fields=["knowledge_base", "id"], name="knowledge_chunk_kb")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"


class Embedding(models.Model):
    """A cached embedding of one text by one model: the same text is never embedded twice."""

    model = models.CharField(max_length=200)
    text_hash = models.CharField(max_length=64)
    vector = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "text_hash"], name="uniq_embedding")
        ]

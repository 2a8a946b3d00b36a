"""Ingest documents in this process: the waiting ones of a knowledge base, or the given ids.

manage.py knowledge_ingest 12 13        # these documents
manage.py knowledge_ingest --base 3     # every queued (or stalled) document of base 3
"""

from django.core.management.base import BaseCommand

from knowledge.ingestion import document_ingest
from knowledge.models import Document, DocumentStatus
from runs.leases import worker_name


class Command(BaseCommand):
    help = "Ingest knowledge-base documents in this process."

    def add_arguments(self, parser):
        parser.add_argument("documents", nargs="*", type=int)
        parser.add_argument("--base", type=int, help="every waiting document of this base")

    def handle(self, *args, documents, base, **options):
        ids = list(documents)
        if base is not None:
            ids += Document.objects.filter(
                knowledge_base_id=base,
                status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING],
            ).values_list("id", flat=True)
        for document_id in ids:
            self.stdout.write(f"ingesting document {document_id}")
            self.stdout.flush()
            status = document_ingest(document_id=document_id, worker=worker_name())
            self.stdout.write(f"document {document_id}: {status or 'not waiting'}")

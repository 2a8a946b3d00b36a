from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge"

    def ready(self) -> None:
        from runs import periodic

        from .recovery import documents_sweep_and_kick

        def recover_documents(now):
            # Documents whose ingestion worker died are kicked again (they are not runs).
            documents_sweep_and_kick()
            return ()

        # Every sweeper pass (embedded and Celery) also takes back abandoned documents.
        periodic.register("documents", recover_documents)

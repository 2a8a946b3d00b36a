from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge"

    def ready(self) -> None:
        from runs.leases import register_sweep

        from .recovery import documents_sweep_and_kick

        # The executors' sweepers also take back documents whose ingestion worker died.
        register_sweep(documents_sweep_and_kick)

from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from runs.services.events import on_committed

        from .services import events_committed

        # A turn is written to memory once its run has finished.
        on_committed(events_committed)

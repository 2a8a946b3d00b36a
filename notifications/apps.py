from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from runs.services.events import on_committed

        from .services import events_committed

        on_committed(events_committed)

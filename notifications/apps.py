from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from runs import periodic
        from runs.services.events import on_committed

        from .services import events_committed, reminders_send

        on_committed(events_committed)
        periodic.register("approval_reminders", reminders_send)

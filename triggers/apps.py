from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers"

    def ready(self) -> None:
        from runs import periodic

        from .services import fire_due_schedules

        periodic.register("schedules", fire_due_schedules)

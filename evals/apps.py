from django.apps import AppConfig


class EvalsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "evals"
    verbose_name = "Evaluations"

    def ready(self) -> None:
        from runs import periodic

        from .services import evaluations_sweep

        # Every sweeper pass (embedded and Celery) drives the evaluations whose driver died.
        periodic.register("evaluations", evaluations_sweep)

        from .router import refit_due_routers

        periodic.register("router_refit", refit_due_routers)

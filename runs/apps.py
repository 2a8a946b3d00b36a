from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from runs import dispatch
        from runs.services.capacity import slot_freed

        # Services say a slot freed; the edge kicks what waited for it.
        slot_freed.connect(dispatch.kick_freed_slot, dispatch_uid="runs.kick_freed_slot")

"""Load the demo workspace and flows. Safe to run again: nothing is duplicated."""

from django.core.management.base import BaseCommand
from django.db import transaction

from builder.demo import DEMO_FLOWS, DEMO_PANTRY, PRICE_ONE, price_missing
from builder.models import Flow, FlowVersion
from runs.models import PantryItem
from workspaces.models import Workspace

DEMO_SLUG = "demo"


class Command(BaseCommand):
    help = "Create the demo workspace with its flows (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        workspace, _ = Workspace.objects.get_or_create(
            slug=DEMO_SLUG, defaults={"name": "Demo workspace"}
        )
        created = 0
        for spec in DEMO_FLOWS:
            created += _seed(workspace, spec)[1]
        # The map demo calls the pricing flow by its id, so that one is seeded first.
        price_one, new = _seed(workspace, PRICE_ONE)
        created += new + _seed(workspace, price_missing(price_one.pk))[1]
        for name, quantity, unit in DEMO_PANTRY:
            PantryItem.objects.get_or_create(
                workspace=workspace, name=name, defaults={"quantity": quantity, "unit": unit}
            )
        total = len(DEMO_FLOWS) + 2
        self.stdout.write(f"Demo workspace ready: {total} flows ({created} new).")


def _seed(workspace: Workspace, spec: dict) -> tuple[Flow, int]:
    """The demo flow named in `spec`, created with a published version 1 if it is missing."""
    flow = Flow.objects.live().filter(workspace=workspace, name=spec["name"]).first()
    if flow is not None:
        return flow, 0
    flow = Flow.objects.create(
        workspace=workspace,
        name=spec["name"],
        description=spec["description"],
        graph=spec["graph"],
    )
    FlowVersion.objects.create(
        flow=flow, number=1, graph=spec["graph"], note="Demo flow", published=True
    )
    return flow, 1

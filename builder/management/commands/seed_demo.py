"""Load the demo workspace and flows. Safe to run again: nothing is duplicated."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Max

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
        created = upgraded = 0
        for spec in DEMO_FLOWS:
            flow, new = _seed(workspace, spec)
            created += new
            upgraded += 0 if new else _upgrade(flow, spec)
        # The map demo calls the pricing flow by its id, so that one is seeded first.
        price_one, new = _seed(workspace, PRICE_ONE)
        created += new + _seed(workspace, price_missing(price_one.pk))[1]
        for name, quantity, unit in DEMO_PANTRY:
            PantryItem.objects.get_or_create(
                workspace=workspace, name=name, defaults={"quantity": quantity, "unit": unit}
            )
        total = len(DEMO_FLOWS) + 2
        more = f", {upgraded} upgraded" if upgraded else ""
        self.stdout.write(f"Demo workspace ready: {total} flows ({created} new{more}).")


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


def _node_ids(graph: dict) -> set[str]:
    return {n["id"] for n in (graph or {}).get("nodes", []) if isinstance(n, dict)}


def _upgrade(flow: Flow, spec: dict) -> int:
    """Bring a demo flow seeded by an older release up to this one's (e.g. the Recipe
    assistant's map pricing each missing ingredient), as a new published version.

    Only a flow nobody changed is upgraded: its draft is its latest version, and it has only
    demo nodes, fewer than the demo has now. Anything else is someone's work and is left alone."""
    latest = flow.published_version
    have, want = _node_ids(flow.graph), _node_ids(spec["graph"])
    untouched = latest is not None and latest.graph == flow.graph and have < want
    if not untouched:
        return 0
    flow.graph, flow.description = spec["graph"], spec["description"]
    flow.revision += 1
    flow.save(update_fields=["graph", "description", "revision"])
    FlowVersion.objects.create(
        flow=flow,
        number=(flow.versions.aggregate(n=Max("number"))["n"] or 0) + 1,
        graph=spec["graph"],
        note="Demo flow, upgraded",
        published=True,
    )
    return 1

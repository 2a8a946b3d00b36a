"""seed_demo on a database seeded by an older release: an untouched demo flow is upgraded to
this release's graph as a new published version, once; a flow someone changed is left alone."""

import copy
import os

import pytest
from django.core.management import call_command

from builder.demo import RECIPE
from builder.models import Flow, FlowVersion

pytestmark = pytest.mark.django_db


def _seed() -> None:
    with open(os.devnull, "w") as out:
        call_command("seed_demo", stdout=out)


def _older_recipe() -> dict:
    """The Recipe assistant before its map: the missing branch goes straight to the list."""
    graph = copy.deepcopy(RECIPE["graph"])
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] not in ("price_each", "estimate")]
    graph["edges"] = [e for e in graph["edges"] if "price_each" not in (e["source"], e["target"])]
    graph["edges"].append(
        {"id": "e_old", "source": "anything_missing", "source_port": "missing",
         "target": "shopping", "target_port": "in"}
    )  # fmt: skip
    shopping = next(n for n in graph["nodes"] if n["id"] == "shopping")
    shopping["config"]["prompt"] = (
        "Write a short shopping list for: {{ nodes.pantry.output.missing | join(', ') }}."
    )
    return graph


def _recipe() -> Flow:
    return Flow.objects.get(workspace__slug="demo", name="Recipe assistant")


def test_an_untouched_older_demo_flow_is_upgraded_once():
    _seed()
    flow = _recipe()
    old = _older_recipe()
    flow.graph = old
    flow.save()
    FlowVersion.objects.filter(flow=flow).update(graph=old)

    _seed()
    flow = _recipe()
    assert flow.graph == RECIPE["graph"]
    latest = flow.published_version
    assert latest.number == 2 and latest.graph == RECIPE["graph"]
    assert any(n["type"] == "map" for n in latest.graph["nodes"])

    _seed()
    assert _recipe().versions.count() == 2  # idempotent


def test_a_demo_flow_someone_changed_is_left_alone():
    _seed()
    flow = _recipe()
    old = _older_recipe()
    FlowVersion.objects.filter(flow=flow).update(graph=old)
    flow.graph = {**old, "nodes": old["nodes"][:-1]}  # an edit not yet published
    flow.save()

    _seed()
    assert _recipe().graph == flow.graph and _recipe().versions.count() == 1


def test_seeding_twice_changes_nothing():
    _seed()
    before = list(FlowVersion.objects.values_list("pk", "number"))
    _seed()
    assert list(FlowVersion.objects.values_list("pk", "number")) == before

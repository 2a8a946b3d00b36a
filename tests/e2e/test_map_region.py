"""A map's region in the browser: a designer drags a step into a map, the map now runs it for
each item, the run page lists the items and an item's page shows its steps inside the map."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from runs.models import Run

from .conftest import login
from .test_editor import node, wait_saved
from .test_run_page import inline_runs, run_here  # noqa: F401

pytestmark = pytest.mark.e2e

SCHEMA = {
    "type": "object",
    "properties": {"things": {"type": "array", "items": {"type": "string"}}},
    "required": ["things"],
}


def _node(node_id, type_, x, y, **config):
    return {"id": node_id, "type": type_, "label": node_id.title(), "position": {"x": x, "y": y},
            "config": config}  # fmt: skip


def unfinished_graph():
    """Input -> an empty map -> Output, and a price step beside them, not yet inside the map."""
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", 0, 0, schema=SCHEMA, sample={"things": ["eggs"]}),
            _node("each", "map", 320, 0, items="{{ inputs.things }}", concurrency=2),
            _node("result", "output", 1000, 0, name="prices"),
            _node("price", "prompt", 320, 420, prompt="Price of {{ inputs.item }}"),
        ],
        "edges": [
            {"id": "e1", "source": "in", "source_port": "out", "target": "each",
             "target_port": "in"},
            {"id": "e2", "source": "each", "source_port": "out", "target": "result",
             "target_port": "in"},
        ],
    }  # fmt: skip


def test_drag_a_step_into_a_map_and_run_it_for_each_item(page, demo, inline_runs, artifacts):  # noqa: F811
    owner = demo["owner"]
    flow = Flow.objects.create(
        workspace=demo["workspace"], name="Price a list", graph=unfinished_graph()
    )
    login(page, owner)
    page.goto(f"/flows/{flow.pk}/")
    box = node(page, "each")
    expect(box.locator("[data-region]")).to_be_visible()
    expect(box).to_contain_text("Drag the steps to run for each item here")
    expect(box.locator(".sb-node-problem-count")).to_be_visible()  # nothing to run yet (E090)

    # Drag the price step by its header into the middle of the map's box.
    head = node(page, "price").locator(".sb-node-head").bounding_box()
    zone = box.locator("[data-region-zone]").bounding_box()
    page.mouse.move(head["x"] + 40, head["y"] + 10)
    page.mouse.down()
    page.mouse.move(zone["x"] + 60, zone["y"] + 30, steps=12)
    page.mouse.up()
    wait_saved(page)

    graph = Flow.objects.get(pk=flow.pk).graph
    price = next(n for n in graph["nodes"] if n["id"] == "price")
    assert price["parent"] == "each"
    assert 0 < price["position"]["x"] < 400 and price["position"]["y"] > 0  # inside, relative
    expect(box).not_to_contain_text("Drag the steps to run for each item here")
    expect(page.locator(".sb-node-problem-count")).to_have_count(0)
    # Inside the map, {{ inputs.item }} is known: the inspector flags nothing.
    node(page, "price").locator(".sb-node-head").click()
    expect(page.get_by_text("Price of {{ inputs.item }}").first).to_be_visible()
    expect(page.get_by_text("has no field")).to_have_count(0)
    page.screenshot(path=str(artifacts / "map-region-editor.png"))

    run_here(owner, Flow.objects.select_related("workspace").get(pk=flow.pk),
             inputs={"things": ["eggs", "flour", "milk"]})  # fmt: skip
    parent = Run.objects.get(flow=flow, parent_step__isnull=True)
    assert parent.status == "succeeded", parent.error_message
    assert parent.result == {
        "prices": [f"Scripted reply: Price of {t}" for t in ["eggs", "flour", "milk"]]
    }

    page.goto(f"/runs/{parent.pk}/")
    panel = page.get_by_test_id("map-items")
    expect(panel).to_contain_text("3 of 3 done")
    expect(panel).to_contain_text("Map → the steps inside it")
    rows = panel.locator("li")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("item: flour")
    page.screenshot(path=str(artifacts / "map-region-run.png"), full_page=True)

    rows.nth(1).get_by_role("link").click()
    expect(page.get_by_text("one item of")).to_be_visible()
    price_on_item = page.locator('.react-flow__node[data-id="price"] [data-run-state]')
    expect(price_on_item).to_have_attribute("data-run-state", "succeeded")
    page.screenshot(path=str(artifacts / "map-region-item-run.png"), full_page=True)

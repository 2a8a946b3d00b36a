"""The canvas reads and edits without hunting: it opens at a readable zoom, "Tidy up" wraps a
long flow into rows, zoom controls sit on the canvas, a double-click adds a node where it
happened, dropping a node on an edge inserts it there, and the palette finds types by the words
people use ("llm")."""

import itertools

import pytest
from playwright.sync_api import Page, expect

from builder.models import Flow

from .conftest import login
from .test_editor import node, wait_saved
from .test_run_page import recipe_flow

pytestmark = pytest.mark.e2e


def zoom(page: Page) -> int:
    return int(page.locator(".sb-zoom-level").get_attribute("data-zoom"))


def node_rows(page: Page) -> int:
    """How many distinct rows the nodes sit in (by their top edge, 40 px apart or more)."""
    tops = sorted(
        b["y"] for b in (n.bounding_box() for n in page.locator(".react-flow__node").all())
    )
    return 1 + sum(1 for a, b in itertools.pairwise(tops) if b - a > 40)


def test_recipe_opens_readable_and_tidy_up_wraps(page, demo, artifacts):
    flow = recipe_flow()
    login(page, demo["owner"])
    page.goto(f"/flows/{flow.pk}/")
    expect(page.locator(".react-flow__node")).to_have_count(len(flow.graph["nodes"]))
    expect(page.locator(".sb-zoom-level")).to_be_visible()
    page.wait_for_timeout(300)
    assert zoom(page) >= 60
    page.screenshot(path=str(artifacts / "canvas-open.png"))

    page.get_by_role("button", name="Tidy up layout").click()
    page.wait_for_timeout(600)  # the view glides to the new layout
    assert zoom(page) >= 60
    assert node_rows(page) >= 2
    pane = page.locator(".react-flow__pane").bounding_box()
    for box in (n.bounding_box() for n in page.locator(".react-flow__node").all()):
        assert pane["x"] <= box["x"] and box["x"] + box["width"] <= pane["x"] + pane["width"]
    page.screenshot(path=str(artifacts / "canvas-tidy.png"))

    # The on-canvas controls zoom.
    before = zoom(page)
    page.locator(".react-flow__controls-zoomout").click()
    expect(page.locator(".sb-zoom-level")).not_to_have_attribute("data-zoom", str(before))
    assert zoom(page) < before
    page.get_by_role("button", name="Fit the flow in view").click()
    expect(page.locator(".sb-zoom-level")).to_have_attribute("data-zoom", str(before))


def test_quick_add_edge_insert_and_synonyms(page, demo, artifacts):
    flow = recipe_flow()
    login(page, demo["owner"])
    page.goto(f"/flows/{flow.pk}/")
    count = len(flow.graph["nodes"])
    expect(page.locator(".react-flow__node")).to_have_count(count)

    # Palette search by synonym.
    page.get_by_label("Search node types").fill("llm")
    expect(page.locator(".sb-palette-item")).to_have_count(1)
    expect(page.locator('.sb-palette-item[data-node-type="prompt"]')).to_be_visible()
    page.get_by_label("Search node types").fill("human")
    expect(page.locator('.sb-palette-item[data-node-type="approval"]')).to_be_visible()
    page.get_by_label("Search node types").fill("")

    # Double-click on empty canvas: a quick-add list where the click was.
    pane = page.locator(".react-flow__pane").bounding_box()
    spot = {"x": pane["x"] + pane["width"] * 0.4, "y": pane["y"] + pane["height"] * 0.15}
    page.mouse.dblclick(spot["x"], spot["y"])
    quick = page.get_by_role("dialog", name="Add a node here")
    expect(quick).to_be_visible()
    quick.get_by_label("Search node types to add").fill("llm")
    quick.get_by_label("Search node types to add").press("Enter")
    expect(page.locator(".react-flow__node")).to_have_count(count + 1)
    added = node(page, "prompt_1")
    expect(added).to_be_visible()
    box = added.bounding_box()
    assert abs(box["x"] + box["width"] / 2 - spot["x"]) < box["width"]
    page.screenshot(path=str(artifacts / "canvas-quick-add.png"))

    # Drop an Evaluator on the edge "Anything missing?" (otherwise) → instructions: it goes in
    # between. A bezier's middle is the middle of its two ends.
    router = node(page, "anything_missing")
    # The recipe is wider than the canvas: scroll it left until the instructions are in view.
    target = node(page, "instructions").locator(".react-flow__handle.target")
    while target.bounding_box()["x"] > pane["x"] + pane["width"] - 40:
        page.mouse.move(pane["x"] + pane["width"] / 2, pane["y"] + pane["height"] / 2)
        page.mouse.wheel(120, 0)
        page.wait_for_timeout(100)
    a = router.locator('.react-flow__handle.source[data-handleid="otherwise"]').bounding_box()
    b = node(page, "instructions").locator(".react-flow__handle.target").bounding_box()
    middle = {"x": (a["x"] + b["x"] + b["width"]) / 2, "y": (a["y"] + b["y"] + b["height"]) / 2}
    edges = page.locator(".react-flow__edge").count()
    page.locator('.sb-palette-item[data-node-type="evaluator"]').drag_to(
        page.locator(".react-flow__pane"),
        target_position={"x": middle["x"] - pane["x"], "y": middle["y"] - pane["y"]},
        force=True,
    )
    expect(node(page, "evaluator_1")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(edges + 1)
    wait_saved(page)
    graph = Flow.objects.get(pk=flow.pk).graph
    pairs = {(e["source"], e["source_port"], e["target"]) for e in graph["edges"]}
    assert ("anything_missing", "otherwise", "evaluator_1") in pairs
    assert ("evaluator_1", "pass", "instructions") in pairs
    assert ("anything_missing", "otherwise", "instructions") not in pairs

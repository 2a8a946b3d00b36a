"""A PM builds the recipe flow from an empty canvas with pickers only: no JSON typed, no node id
typed. The Input's fields and the research prompt's output come from the schema builder, the
pantry tool and its argument from the tool picker and the variable picker, the router's rule
from the field picker. Then the draft runs and succeeds."""

import pytest
from playwright.sync_api import Page, expect

from builder.models import Flow
from tests.llmserver import json_reply, text
from workspaces.models import Role

from .conftest import login
from .test_editor import connect, drop, node, select, wait_saved

pytestmark = pytest.mark.e2e

INGREDIENTS = {"ingredients": ["lasagne sheets", "tomato", "ricotta"], "summary": "A bake."}
STEPS = "1. Heat the oven. 2. Layer sheets, tomato and ricotta. 3. Bake for forty minutes."


def inspector(page: Page):
    return page.locator("[data-inspector-node]")


def insert_variable(page: Page, field_label: str, pick: str) -> None:
    """Open a template field's variable picker with its button and pick a variable by its text."""
    page.get_by_role("button", name=f"Variables for {field_label}", exact=False).click()
    picker = page.get_by_role("group", name=f"Variables available in {field_label}")
    picker.locator(".sb-var", has_text=pick).first.click()
    expect(picker).to_have_count(0)


def type_then_pick(page: Page, box, words: str, group: str, pick: str) -> None:
    """Type text ending in "{{" into a template field: the picker opens; pick from a group."""
    box.press("End")
    box.type(words + "{{")
    picker = page.locator(".sb-vars")
    expect(picker).to_be_visible()
    picker.locator(".sb-vars-group", has_text=group).locator(".sb-var", has_text=pick).first.click()


def test_pm_builds_and_runs_the_recipe_flow_without_json(page, member, llm_server, artifacts):
    llm_server.on("ingredients", json_reply(INGREDIENTS))
    llm_server.on("a shopping list", text("Buy lasagne sheets, tomato and ricotta."))
    llm_server.on("cooking instructions", text(STEPS))
    designer = member(Role.EDITOR, username="pm")
    login(page, designer)
    page.get_by_role("button", name="New flow").click()
    page.get_by_label("Name").fill("My recipe assistant")
    page.get_by_role("button", name="Create flow").click()
    page.wait_for_url("**/flows/*/")
    expect(page.get_by_text("Start with an Input")).to_be_visible()

    pane = page.locator(".react-flow__pane").bounding_box()
    for node_type, fx, fy in [
        ("input", 0.2, 0.15),
        ("prompt", 0.2, 0.5),
        ("tool", 0.5, 0.15),
        ("router", 0.5, 0.5),
        ("prompt", 0.8, 0.15),
        ("prompt", 0.8, 0.5),
        ("output", 0.5, 0.85),
    ]:
        drop(page, node_type, pane["x"] + fx * pane["width"], pane["y"] + fy * pane["height"])
    expect(page.locator(".react-flow__node")).to_have_count(7)

    # The Input's fields, with the schema builder.
    select(page, "input_1")
    page.get_by_label("Label", exact=True).fill("Dish request")
    page.get_by_label("Field 1 name").fill("dish")
    page.get_by_label("Field 1 label").fill("Dish")
    page.get_by_role("button", name="Add field", exact=True).click()
    page.get_by_label("Field 2 name").fill("servings")
    page.get_by_label("Field 2 kind").select_option(label="Whole number")
    page.get_by_label("Field 2 label").fill("Servings")
    page.get_by_role("textbox", name="Dish", exact=True).fill("vegetable lasagne")
    page.screenshot(path=str(artifacts / "canvas-input-fields.png"))

    connect(page, "input_1", "out", "prompt_1")
    connect(page, "prompt_1", "out", "tool_1")
    connect(page, "tool_1", "out", "router_1")
    connect(page, "prompt_2", "out", "prompt_3")
    connect(page, "prompt_3", "out", "output_1")

    # The research prompt: a message with variables, and a JSON output described by fields.
    select(page, "prompt_1")
    page.get_by_label("Label", exact=True).fill("Research the recipe")
    message = page.get_by_role("textbox", name="User message", exact=True)
    message.fill("List the ingredients for ")
    insert_variable(page, "User message", "inputs.dish")
    expect(message).to_have_value("List the ingredients for {{ inputs.dish }}")
    expect(inspector(page).locator(".sb-ref-chip")).to_contain_text("Dish request › dish")
    inspector(page).get_by_role("radio", name="JSON").click()
    page.get_by_role("button", name="Describe the fields").click()
    page.get_by_label("Field 1 name").fill("ingredients")
    page.get_by_label("Field 1 kind").select_option(label="List")
    page.get_by_label("Field 1 description").fill("Each ingredient's name")
    page.get_by_role("button", name="Add field", exact=True).click()
    page.get_by_label("Field 2 name").fill("summary")
    page.get_by_label("Field 2 required").check()
    page.get_by_label("Model", exact=True).select_option("openai/gpt-4o-mini")
    expect(inspector(page).locator("[data-model-price]")).to_contain_text("$0.15 in")
    inspector(page).locator("[data-schema-builder]").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "canvas-schema-builder.png"))

    # The pantry tool, from the tool picker; its argument from the variable picker, by label.
    select(page, "tool_1")
    page.get_by_label("Label", exact=True).fill("Check the pantry")
    page.get_by_role("combobox", name="Tool", exact=True).select_option("pantry")
    expect(inspector(page).locator("[data-tool-description]")).to_contain_text("pantry")
    insert_variable(page, "ingredients", "ingredients")
    argument = inspector(page).locator('[data-argument="ingredients"] input')
    expect(argument).to_have_value("{{ nodes.prompt_1.output.ingredients }}")
    expect(inspector(page).locator('[data-argument="ingredients"] .sb-ref-chip')).to_contain_text(
        "Research the recipe › ingredients"
    )
    page.screenshot(path=str(artifacts / "canvas-tool-picker.png"))

    # The router's rule, with the field picker.
    select(page, "router_1")
    page.get_by_label("Label", exact=True).fill("Anything missing?")
    page.get_by_label("Route name (the output port)").fill("missing")
    page.get_by_role("button", name="Add condition").click()
    field = page.get_by_role("combobox", name="Field", exact=True)
    field.select_option(label="missing_count (whole number)")
    page.get_by_label("Operator").select_option("greater_than")
    page.get_by_label("Value", exact=True).fill("0")
    page.screenshot(path=str(artifacts / "canvas-router-rule.png"))
    connect(page, "router_1", "missing", "prompt_2")
    connect(page, "router_1", "otherwise", "prompt_3")

    select(page, "prompt_2")
    page.get_by_label("Label", exact=True).fill("Shopping list")
    message = page.get_by_role("textbox", name="User message", exact=True)
    type_then_pick(page, message, "Write a shopping list for: ", "Check the pantry", "missing")

    select(page, "prompt_3")
    page.get_by_label("Label", exact=True).fill("Cooking instructions")
    message = page.get_by_role("textbox", name="User message", exact=True)
    type_then_pick(page, message, "Write cooking instructions for ", "run inputs", "inputs.dish")
    type_then_pick(page, message, " using ", "Research the recipe", "ingredients")
    expect(message).to_have_value(
        "Write cooking instructions for {{ inputs.dish }} using "
        "{{ nodes.prompt_1.output.ingredients }}"
    )
    page.screenshot(path=str(artifacts / "canvas-variable-picker.png"))

    expect(page.locator('[data-problem-total="0"]')).to_be_visible(timeout=10_000)
    wait_saved(page)
    page.get_by_role("button", name="Tidy up layout").click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "canvas-editor.png"))

    graph = Flow.objects.get(name="My recipe assistant").graph
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["input_1"]["config"]["schema"]["properties"]["servings"]["type"] == "integer"
    research = nodes["prompt_1"]["config"]
    assert research["output_format"] == "json"
    assert research["json_schema"]["properties"]["ingredients"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "Each ingredient's name",
    }
    assert set(research["json_schema"]["required"]) == {"ingredients", "summary"}
    assert nodes["tool_1"]["config"]["tool"] == "pantry"
    condition = nodes["router_1"]["config"]["routes"][0]["conditions"][0]
    assert condition == {
        "field": "nodes.tool_1.output.missing_count",
        "operator": "greater_than",
        "value": 0,
    }

    # Run the draft: nothing is in this workspace's pantry, so the shopping list runs too.
    page.get_by_role("button", name="Test run").first.click()
    expect(page.get_by_role("textbox", name="Dish", exact=True)).to_have_value("vegetable lasagne")
    page.get_by_role("button", name="Run draft").click()
    expect(page.locator("[data-test-run-status]")).to_have_attribute(
        "data-test-run-status", "succeeded", timeout=30_000
    )
    for node_id in ["input_1", "prompt_1", "tool_1", "router_1", "prompt_2", "prompt_3"]:
        expect(node(page, node_id).locator("[data-run-state]")).to_have_attribute(
            "data-run-state", "succeeded"
        )
    page.screenshot(path=str(artifacts / "canvas-run-succeeded.png"))

    # The run page's canvas is resizable: drag the bar under it.
    run_page = page.context.new_page()
    run_page.goto(page.locator('[data-action="open-run-page"]').get_attribute("href"))
    expect(run_page.locator("[data-run-canvas][data-ready]")).to_be_attached()
    # One script: the canvas and the run page's modules bundled, each module loaded once.
    scripts = run_page.evaluate(
        "() => performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((n) => n.endsWith('.js')).map((n) => n.split('/').pop())"
    )
    assert "run_page.js" in scripts
    assert not {"canvas.js", "run_state.js", "run_stream.js"} & set(scripts), scripts
    canvas = run_page.locator("[data-run-canvas]")
    before = canvas.bounding_box()["height"]
    bar = run_page.get_by_role("separator", name="Resize the canvas").bounding_box()
    run_page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + 3)
    run_page.mouse.down()
    run_page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + 3 - 120, steps=8)
    run_page.mouse.up()
    assert canvas.bounding_box()["height"] == pytest.approx(before - 120, abs=8)
    run_page.get_by_role("separator", name="Resize the canvas").press("ArrowDown")
    assert canvas.bounding_box()["height"] == pytest.approx(before - 80, abs=8)
    run_page.close()

    # Switching the research prompt to text breaks what the pantry reads: said before running.
    select(page, "prompt_1")
    inspector(page).get_by_role("radio", name="Text").click()
    select(page, "tool_1")
    expect(inspector(page).locator(".sb-template-issues")).to_contain_text(
        "“Research the recipe” returns text, which has no field “ingredients”."
    )
    # ... and the server's validation marks the pantry node before anything runs.
    expect(node(page, "tool_1").locator(".sb-node-problem")).to_be_visible(timeout=10_000)
    expect(page.locator('[data-problem-total="0"]')).to_have_count(0)

"""The editor's Test run panel, then the run page it links to: live states, streamed text, an
inline approval, and the run finishing without a reload."""

import json
import re

import pytest
from playwright.sync_api import expect

from runs.models import Run
from tests.llmserver import json_reply, text
from workspaces.models import Role

from .conftest import login
from .test_run_page import (
    INGREDIENTS,
    STEPS_TEXT,
    assert_each_step_once,
    latency_report,
    recipe_flow,
    slow_stream,  # noqa: F401 (a fixture, used by name)
    state_of,
    status,
)

pytestmark = pytest.mark.e2e


@pytest.mark.usefixtures("slow_stream")
def test_test_run_from_the_editor_then_approve_on_the_run_page(page, demo, llm_server, artifacts):
    llm_server.on("ingredients", json_reply(INGREDIENTS, latency=0.8))
    llm_server.on("cooking instructions", text(STEPS_TEXT, latency=0.4))
    owner = demo["owner"]
    flow = recipe_flow()
    login(page, owner)
    page.goto(f"/flows/{flow.pk}/")
    page.get_by_role("button", name="Test run").first.click()

    # The form comes from the Input node's schema, prefilled with its sample.
    expect(page.get_by_role("textbox", name="Dish", exact=True)).to_have_value("vegetable lasagne")
    expect(page.get_by_role("spinbutton", name="Servings")).to_have_value("4")
    page.get_by_role("spinbutton", name="Servings").fill("6")
    page.get_by_role("button", name="Run draft").click()

    expect(state_of(page, "research")).to_have_attribute("data-run-state", "running")
    expect(page.locator('[data-step-node="research"][data-step-state="running"]')).to_be_visible()
    page.screenshot(path=str(artifacts / "editor-test-run.png"))
    run_link = page.locator('[data-action="open-run-page"]')
    href = run_link.get_attribute("href")
    run = Run.objects.get(pk=int(href.strip("/").split("/")[-1]))
    assert run.inputs == {"dish": "vegetable lasagne", "servings": 6}

    with page.context.expect_page() as opened:
        run_link.click()
    run_page = opened.value
    run_page.wait_for_load_state()
    expect(run_page.locator("[data-run-canvas][data-ready]")).to_be_attached()

    # Steps turn running → succeeded live; the instructions stream their text as they run.
    expect(state_of(run_page, "instructions")).to_have_attribute(
        "data-run-state", "running", timeout=10_000
    )
    expect(run_page.locator('[data-node-id="instructions"] [data-node-stream]')).to_contain_text(
        "Heat the oven"
    )
    run_page.locator('[data-step-node="instructions"] .sb-step-head').last.click()
    expect(run_page.locator("[data-stream]")).to_contain_text("Layer sheets")
    run_page.screenshot(path=str(artifacts / "run-page-streaming.png"))
    expect(state_of(run_page, "instructions")).to_have_attribute("data-run-state", "succeeded")
    expect(run_page.locator("[data-step-output]")).to_have_text(STEPS_TEXT)

    # The approval is inline; the run waits for it.
    expect(status(run_page)).to_have_text("waiting")
    expect(state_of(run_page, "approve")).to_have_attribute("data-run-state", "waiting")
    approval = run_page.locator("[data-approval]")
    expect(approval).to_contain_text("Check the instructions for vegetable lasagne")
    run_page.screenshot(path=str(artifacts / "run-page-waiting.png"))
    # Meanwhile the editor's panel followed along.
    expect(page.locator("[data-test-run-status]")).to_have_attribute(
        "data-test-run-status", "waiting"
    )

    run_page.get_by_role("button", name="Approve").click()
    expect(status(run_page)).to_have_text("succeeded")
    expect(state_of(run_page, "publish")).to_have_attribute("data-run-state", "succeeded")
    expect(state_of(run_page, "declined")).to_have_attribute("data-run-state", "skipped")
    expect(run_page.locator("[data-approval]")).to_have_count(0)
    expect(run_page.locator('[data-fact="result"]')).to_contain_text("Heat the oven")
    assert_each_step_once(run_page, run)
    run_page.screenshot(path=str(artifacts / "run-page-finished.png"))
    run_page.set_viewport_size({"width": 1280, "height": 800})
    run_page.screenshot(path=str(artifacts / "run-page-finished-1280.png"))
    expect(page.locator("[data-test-run-status]")).to_have_attribute(
        "data-test-run-status", "succeeded"
    )
    page.screenshot(path=str(artifacts / "editor-test-run-finished.png"))

    report = latency_report(run_page, run, "run page, one recipe run")
    (artifacts / "run-page-latency.json").write_text(json.dumps(report, indent=2))


def test_test_run_reports_invalid_inputs_and_graph_problems_readably(
    page, demo, llm_server, artifacts
):
    login(page, demo["owner"])
    page.goto(f"/flows/{recipe_flow().pk}/")
    page.get_by_role("button", name="Test run").first.click()
    page.get_by_role("spinbutton", name="Servings").fill("80")
    page.get_by_role("button", name="Run draft").click()
    error = page.locator("[data-test-run-error]")
    expect(error).to_contain_text("do not match the flow's input form")
    expect(error).to_contain_text("servings: 80 is greater than the maximum of 50")

    # A flow with problems is not run: the panel lists them, each leading to its node.
    flow = recipe_flow()
    graph = flow.graph
    graph["edges"] = [e for e in graph["edges"] if e["target"] != "pantry"]
    flow.graph = graph
    flow.revision += 1
    flow.save(update_fields=["graph", "revision"])
    page.reload()
    page.get_by_role("button", name="Test run").first.click()
    page.get_by_role("button", name="Run draft").click()
    expect(error).to_contain_text("The flow has problems to fix before it can run")
    problem = error.get_by_role("button", name=re.compile("Check the pantry"))
    expect(problem.first).to_be_visible()
    page.screenshot(path=str(artifacts / "editor-test-run-invalid.png"))
    problem.first.click()
    expect(page.locator('.react-flow__node[data-id="pantry"].selected')).to_be_visible()
    assert llm_server.call_count == 0


def test_import_a_flow_file_then_test_run_it_live(page, member, llm_server, tmp_path, artifacts):
    """An exported demo flow, imported from the flows list, test-runs with live node states."""
    from builder.demo import TRIP

    llm_server.on("explain the total", text("About 540 EUR in total.", latency=1.0))
    designer = member(Role.EDITOR, username="dana")
    document = {
        "format": "switchboard.flow",
        "format_version": 1,
        "name": "Imported trip",
        "description": TRIP["description"],
        "graph": TRIP["graph"],
    }
    path = tmp_path / "trip.json"
    path.write_text(json.dumps(document))
    login(page, designer)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import").click()
    chooser.value.set_files(str(path))
    page.wait_for_url(re.compile(r".*/flows/\d+/$"))

    page.get_by_role("button", name="Test run").first.click()
    page.get_by_role("button", name="Run draft").click()
    expect(state_of(page, "explain")).to_have_attribute("data-run-state", "running")
    expect(state_of(page, "lodging")).to_have_attribute("data-run-state", "succeeded")
    expect(state_of(page, "budget")).to_have_attribute("data-run-state", "succeeded")
    expect(page.locator("[data-test-run-status]")).to_have_attribute(
        "data-test-run-status", "succeeded"
    )
    run = Run.objects.get(flow__name="Imported trip")
    assert run.result == {"budget": "About 540 EUR in total."}
    assert llm_server.call_count == 1

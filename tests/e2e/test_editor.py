"""The flow editor in a real browser: build a flow from the palette, versions, conflicts."""

import json

import pytest
from playwright.sync_api import Page, expect

from builder.models import Flow
from workspaces.models import Role

from .conftest import login

pytestmark = pytest.mark.e2e

CANVAS = ".sb-canvas-wrap"


def node(page: Page, node_id: str):
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def drop(page: Page, node_type: str, x: float, y: float) -> None:
    """Drag a node type from the palette onto the canvas at page coordinates (x, y)."""
    page.locator(f'.sb-palette-item[data-node-type="{node_type}"]').drag_to(
        page.locator(".react-flow__pane"),
        target_position=_pane_offset(page, x, y),
    )


def _pane_offset(page: Page, x: float, y: float) -> dict:
    box = page.locator(".react-flow__pane").bounding_box()
    return {"x": x - box["x"], "y": y - box["y"]}


def connect(page: Page, source: str, port: str, target: str, target_port: str = "in") -> None:
    """Drag from an output port to an input port."""
    handle = node(page, source).locator(f'.react-flow__handle.source[data-handleid="{port}"]')
    goal = node(page, target).locator(f'.react-flow__handle.target[data-handleid="{target_port}"]')
    a, b = handle.bounding_box(), goal.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=10)
    page.mouse.up()


def select(page: Page, node_id: str) -> None:
    node(page, node_id).locator(".sb-node-label").click()
    expect(page.locator(f'[data-inspector-node="{node_id}"]')).to_be_visible()


def wait_saved(page: Page) -> None:
    """Wait until autosave has caught up with every edit (it waits for edits to settle)."""
    status = page.locator("[data-save-status]")
    expect(status).to_have_attribute("data-save-status", "saved", timeout=10_000)
    page.wait_for_timeout(300)
    expect(status).to_have_attribute("data-save-status", "saved", timeout=10_000)


def test_designer_builds_a_flow_from_the_palette(page, member, make_user, artifacts):
    designer = member(Role.EDITOR, username="dana")
    reviewer = member(Role.APPROVER, username="rui")
    reviewer.first_name, reviewer.last_name = "Rui", "Costa"
    reviewer.save()
    login(page, designer)

    page.get_by_role("button", name="New flow").click()
    page.get_by_label("Name").fill("Answer questions")
    page.get_by_role("button", name="Create flow").click()
    page.wait_for_url("**/flows/*/")
    expect(page.get_by_text("Start with an Input")).to_be_visible()
    page.screenshot(path=str(artifacts / "editor-empty.png"))

    for node_type, x, y in [
        ("input", 400, 200),
        ("prompt", 660, 200),
        ("router", 920, 200),
        ("evaluator", 400, 520),
        ("approval", 660, 520),
        ("output", 920, 520),
    ]:
        drop(page, node_type, x, y)
        expect(node(page, f"{node_type}_1")).to_be_visible()
    expect(page.locator(".react-flow__node")).to_have_count(6)

    select(page, "router_1")
    page.get_by_role("button", name="Add route").click()
    expect(node(page, "router_1").locator('[data-port="route_2"]')).to_be_visible()

    connect(page, "input_1", "out", "prompt_1")
    connect(page, "prompt_1", "out", "router_1")
    connect(page, "router_1", "route_1", "evaluator_1")
    connect(page, "evaluator_1", "pass", "approval_1")
    connect(page, "evaluator_1", "fail", "prompt_1")
    connect(page, "approval_1", "approved", "output_1")
    expect(page.locator(".react-flow__edge")).to_have_count(6)
    expect(page.locator(".react-flow__edge-path.is-retry")).to_have_count(1)
    expect(page.locator(".sb-edge-label.is-retry")).to_contain_text("retry")

    select(page, "prompt_1")
    message = page.get_by_role("textbox", name="User message", exact=True)
    message.fill("Answer {{ inputs.question }} using {{ nodes.nowhere.output }}")
    expect(page.get_by_text("There is no node “nowhere”.")).to_be_visible()
    page.get_by_role("button", name="Variables for User message", exact=False).click()
    expect(page.locator(".sb-var", has_text="inputs.question")).to_be_visible()
    message.fill("")
    page.locator(".sb-var", has_text="inputs.question").click()
    expect(message).to_have_value("{{ inputs.question }}")
    message.press("End")
    message.type(" Be brief.")

    select(page, "approval_1")
    page.get_by_label("Assigned people").select_option("rui")
    expect(page.locator(".sb-tag", has_text="Rui Costa")).to_be_visible()

    # The router's second route has no edge: the validator says so on the node and in the list.
    router_problem = node(page, "router_1").locator(".sb-node-problem")
    expect(router_problem).to_contain_text('Route "route_2" has no outgoing edge')
    expect(node(page, "router_1").locator(".sb-port-row.has-problem")).to_have_count(1)
    page.get_by_role("tab", name="Problems (1)").click()
    problem = page.locator(".sb-problem", has_text="route_2")
    expect(problem).to_be_visible()
    page.screenshot(path=str(artifacts / "editor-errors.png"))
    problem.click()
    expect(page.locator('[data-inspector-node="router_1"]')).to_be_visible()
    page.wait_for_timeout(400)  # the canvas glides to the node

    connect(page, "router_1", "route_2", "output_1")
    expect(page.locator('[data-problem-total="0"]')).to_be_visible()
    expect(router_problem).to_have_count(0)
    wait_saved(page)

    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(6)
    expect(page.locator(".react-flow__edge")).to_have_count(7)
    expect(page.locator('[data-problem-total="0"]')).to_be_visible()
    select(page, "prompt_1")
    expect(page.get_by_role("textbox", name="User message", exact=True)).to_have_value(
        "{{ inputs.question }} Be brief."
    )
    page.screenshot(path=str(artifacts / "editor-flow.png"))

    flow = Flow.objects.get(name="Answer questions")
    nodes = {n["id"]: n for n in flow.graph["nodes"]}
    assert set(nodes) == {
        "input_1",
        "prompt_1",
        "router_1",
        "evaluator_1",
        "approval_1",
        "output_1",
    }
    assert nodes["prompt_1"]["config"]["prompt"] == "{{ inputs.question }} Be brief."
    assert nodes["approval_1"]["config"]["users"] == ["rui"]
    assert [r["name"] for r in nodes["router_1"]["config"]["routes"]] == ["route_1", "route_2"]
    ports = {(e["source"], e["source_port"], e["target"]) for e in flow.graph["edges"]}
    assert ("evaluator_1", "fail", "prompt_1") in ports
    assert ("router_1", "route_2", "output_1") in ports


def _support_graph() -> dict:
    from django.conf import settings

    path = settings.BASE_DIR / "static" / "demo-flows" / "support-triage.json"
    return json.loads(path.read_text())["graph"]


@pytest.fixture
def support_flow(workspace):
    def make(user, name="Support triage"):
        return Flow.objects.create(
            workspace=workspace, name=name, graph=_support_graph(), created_by=user
        )

    return make


def test_publish_diff_and_restore_a_version(page, member, support_flow, artifacts):
    designer = member(Role.EDITOR, username="dana")
    flow = support_flow(designer)
    login(page, designer)
    page.goto(f"/flows/{flow.pk}/")
    expect(page.locator(".react-flow__node")).to_have_count(6)

    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_label("Note").fill("First answer flow")
    page.get_by_role("dialog").get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Published v1.")).to_be_visible()

    select(page, "draft")
    page.get_by_role("textbox", name="User message", exact=True).fill(
        "Reply kindly to: {{ inputs.question }}"
    )
    wait_saved(page)

    page.get_by_role("tab", name="History").click()
    version = page.locator('.sb-version[data-version="1"]')
    expect(version).to_contain_text("First answer flow")
    expect(version).to_contain_text("by dana")
    version.get_by_role("button", name="Compare version 1 with the draft").click()
    expect(page.locator(".sb-view-banner")).to_contain_text("Changes from v1 to the draft")
    expect(node(page, "draft").locator(".sb-node")).to_have_class(lambda_has("diff-changed"))
    expect(node(page, "check").locator(".sb-node")).to_have_class(lambda_has("diff-same"))
    change = page.locator('[data-diff-node="draft"]')
    expect(change).to_contain_text("changed")
    expect(change).to_contain_text("Reply kindly to")
    page.screenshot(path=str(artifacts / "editor-diff.png"))

    page.get_by_role("button", name="Back to draft").click()
    version.get_by_role("button", name="View version 1").click()
    expect(page.locator(".sb-view-banner")).to_contain_text("Viewing v1")
    expect(node(page, "draft")).to_contain_text("Answer this")
    page.locator(".sb-view-banner").get_by_role("button", name="Restore into draft").click()
    page.get_by_role("dialog").get_by_role("button", name="Restore v1").click()
    expect(page.get_by_text("Restored v1 into the draft")).to_be_visible()
    expect(page.locator(".sb-view-banner")).to_have_count(0)
    expect(node(page, "draft")).to_contain_text("Answer this")
    flow.refresh_from_db()
    assert flow.graph == flow.versions.get(number=1).graph


def lambda_has(css_class: str):
    import re

    return re.compile(rf"(^|\s){css_class}(\s|$)")


def test_a_stale_save_shows_the_conflict_and_loses_nothing(
    new_page, member, support_flow, artifacts
):
    designer = member(Role.EDITOR, username="dana")
    colleague = member(Role.EDITOR, username="cole")
    flow = support_flow(designer)
    first, second = new_page(), new_page()
    login(first, designer)
    login(second, colleague)
    for page in (first, second):
        page.goto(f"/flows/{flow.pk}/")
        expect(page.locator(".react-flow__node")).to_have_count(6)

    select(first, "draft")
    first.get_by_label("Label", exact=True).fill("Draft answer (Dana)")
    wait_saved(first)

    select(second, "check")
    second.get_by_label("Label", exact=True).fill("Check answer (Cole)")
    dialog = second.get_by_role("dialog", name="Someone else saved this flow")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("nothing is lost")
    expect(second.locator('[data-save-status="conflict"]')).to_be_visible()
    second.screenshot(path=str(artifacts / "editor-conflict.png"))

    flow.refresh_from_db()
    labels = {n["id"]: n["label"] for n in flow.graph["nodes"]}
    assert labels["draft"] == "Draft answer (Dana)"
    assert labels["check"] == "Check answer"
    expect(node(second, "check")).to_contain_text("Check answer (Cole)")

    dialog.get_by_role("button", name="Save mine as a copy").click()
    second.wait_for_url(lambda url: f"/flows/{flow.pk}/" not in url)
    copy = Flow.objects.exclude(pk=flow.pk).get()
    copy_labels = {n["id"]: n["label"] for n in copy.graph["nodes"]}
    assert copy_labels["check"] == "Check answer (Cole)"
    assert copy.name == "Support triage (your changes)"
    flow.refresh_from_db()
    assert {n["id"]: n["label"] for n in flow.graph["nodes"]}["draft"] == "Draft answer (Dana)"


def test_a_failed_save_keeps_the_changes_and_guards_leaving(page, member, support_flow):
    designer = member(Role.EDITOR, username="dana")
    flow = support_flow(designer)
    login(page, designer)
    page.goto(f"/flows/{flow.pk}/")
    expect(page.locator(".react-flow__node")).to_have_count(6)
    page.route("**/api/flows/*/draft", lambda route: route.abort("connectionfailed"))

    select(page, "draft")
    page.get_by_label("Label", exact=True).fill("Offline edit")
    expect(page.locator('[data-save-status="error"]')).to_contain_text("Couldn't save")

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    expect(node(page, "draft")).to_contain_text("Offline edit")

    page.unroute("**/api/flows/*/draft")
    page.keyboard.press("Control+s")
    expect(page.locator('[data-save-status="saved"]')).to_be_visible()
    flow.refresh_from_db()
    assert {n["id"]: n["label"] for n in flow.graph["nodes"]}["draft"] == "Offline edit"


def test_a_conflict_resolved_by_overwriting_or_reloading(new_page, member, support_flow):
    designer = member(Role.EDITOR, username="dana")
    flow = support_flow(designer)
    first, second = new_page(), new_page()
    for page in (first, second):
        login(page, designer)
        page.goto(f"/flows/{flow.pk}/")
        expect(page.locator(".react-flow__node")).to_have_count(6)

    select(first, "draft")
    first.get_by_label("Label", exact=True).fill("From the first tab")
    wait_saved(first)
    select(second, "draft")
    second.get_by_label("Label", exact=True).fill("From the second tab")
    dialog = second.get_by_role("dialog", name="Someone else saved this flow")
    dialog.get_by_role("button", name="Overwrite with mine").click()
    expect(dialog).to_be_hidden()
    wait_saved(second)
    flow.refresh_from_db()
    assert {n["id"]: n["label"] for n in flow.graph["nodes"]}["draft"] == "From the second tab"

    # The first tab is now stale: reloading their version brings the second tab's draft in.
    select(first, "check")
    first.get_by_label("Label", exact=True).fill("Check (first tab)")
    dialog = first.get_by_role("dialog", name="Someone else saved this flow")
    dialog.get_by_role("button", name="Reload their version").click()
    expect(dialog).to_be_hidden()
    expect(node(first, "draft")).to_contain_text("From the second tab")
    expect(node(first, "check")).to_contain_text("Check answer")
    first.keyboard.press("Control+z")
    expect(node(first, "check")).to_contain_text("Check (first tab)")

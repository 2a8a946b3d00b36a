"""The flows list: empty state with demo flows, import a flow file, search, duplicate, delete."""

import json

import pytest
from django.conf import settings
from playwright.sync_api import expect

from builder.models import Flow
from builder.starters import STARTERS
from workspaces.models import Role

from .conftest import login

pytestmark = pytest.mark.e2e


def test_import_a_flow_file_from_the_flows_list(page, member, artifacts, tmp_path):
    designer = member(Role.EDITOR, username="dana")
    login(page, designer)
    expect(page.get_by_role("heading", name="No flows in Acme yet")).to_be_visible()
    expect(page.locator(".sb-demo").first).to_be_visible()
    page.screenshot(path=str(artifacts / "flows-empty.png"))

    document = json.loads(
        (settings.BASE_DIR / "static" / "demo-flows" / "blog-post.json").read_text()
    )
    document["name"] = "Imported blog writer"
    path = tmp_path / "blog-writer.json"
    path.write_text(json.dumps(document))
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import").click()
    chooser.value.set_files(str(path))

    page.wait_for_url("**/flows/*/")
    expect(page.get_by_role("textbox", name="Flow name")).to_have_value("Imported blog writer")
    expect(page.locator(".react-flow__node")).to_have_count(5)
    expect(page.locator('[data-problem-total="0"]')).to_be_visible()
    flow = Flow.objects.get(name="Imported blog writer")
    assert flow.graph == document["graph"]


def test_a_bad_import_file_says_why(page, member, tmp_path):
    login(page, member(Role.EDITOR, username="dana"))
    path = tmp_path / "notes.json"
    path.write_text('{"hello": "world"}')
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import").click()
    chooser.value.set_files(str(path))
    expect(page.locator(".sb-toast")).to_contain_text("not a Switchboard flow export")
    assert not Flow.objects.exists()


def test_flows_list_search_duplicate_and_delete(page, member, workspace, artifacts):
    designer = member(Role.EDITOR, username="dana")
    for name in ("Support triage", "Blog writer", "Invoice checker"):
        Flow.objects.create(workspace=workspace, name=name, created_by=designer)
    login(page, designer)
    expect(page.locator("tr[data-flow-id]")).to_have_count(3)
    page.screenshot(path=str(artifacts / "flows-list.png"))

    page.get_by_role("searchbox", name="Search flows").fill("blog")
    expect(page.locator("tr[data-flow-id]")).to_have_count(1)
    expect(page.locator("tr[data-flow-id]")).to_contain_text("Blog writer")

    page.get_by_role("button", name="Duplicate Blog writer").click()
    page.wait_for_url("**/flows/*/")
    expect(page.get_by_role("textbox", name="Flow name")).to_have_value("Blog writer (copy)")

    page.goto("/")
    row = page.locator("tr[data-flow-id]", has_text="Invoice checker")
    expect(row.get_by_role("link", name="Export Invoice checker as JSON")).to_have_attribute(
        "href", f"/api/flows/{Flow.objects.get(name='Invoice checker').pk}/export"
    )
    row.get_by_role("button", name="Delete Invoice checker").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete “Invoice checker”?")
    dialog.get_by_role("button", name="Delete flow").click()
    expect(row).to_have_count(0)
    assert Flow.objects.get(name="Invoice checker").deleted_at is not None


def test_a_demo_flow_from_the_empty_state(page, member):
    login(page, member(Role.EDITOR, username="dana"))
    page.locator(".sb-demo").first.click()
    page.wait_for_url("**/flows/*/")
    expect(page.locator(".react-flow__node").first).to_be_visible()
    assert Flow.objects.count() == 1


def test_new_flow_from_a_starter_double_click_creates_one_flow(page, member, workspace, artifacts):
    designer = member(Role.EDITOR, username="dana")
    Flow.objects.create(workspace=workspace, name="Old flow", created_by=designer)
    login(page, designer)
    page.get_by_role("button", name="New flow").click()
    dialog = page.get_by_role("dialog")
    starters = dialog.locator(".sb-starter")
    expect(starters).to_have_count(len(STARTERS) + 1)  # a blank canvas and the starters
    dialog.get_by_text("Recipe assistant", exact=False).first.click()
    expect(dialog.get_by_role("textbox", name="Name")).to_have_value("Recipe assistant")
    expect(dialog.locator(".sb-starter-node", has_text="Check the pantry")).to_be_visible()
    page.screenshot(path=str(artifacts / "checks-gallery.png"))

    dialog.get_by_role("button", name="Create flow").dblclick()
    page.wait_for_url("**/flows/*/")
    expect(page.get_by_role("textbox", name="Flow name")).to_have_value("Recipe assistant")
    nodes = len(STARTERS["recipe-assistant"].graph["nodes"])
    expect(page.locator(".react-flow__node")).to_have_count(nodes)
    expect(page.locator('[data-problem-total="0"]')).to_be_visible()
    assert Flow.objects.filter(name="Recipe assistant").count() == 1


def test_new_flow_dialog_duplicates_an_existing_flow(page, member, workspace):
    designer = member(Role.EDITOR, username="dana")
    Flow.objects.create(workspace=workspace, name="Invoice checker", created_by=designer)
    login(page, designer)
    page.get_by_role("button", name="New flow").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox", name="Or duplicate an existing flow").select_option(
        label="Invoice checker"
    )
    dialog.get_by_role("button", name="Duplicate", exact=True).click()
    page.wait_for_url("**/flows/*/")
    expect(page.get_by_role("textbox", name="Flow name")).to_have_value("Invoice checker (copy)")


def test_a_second_login_submit_is_ignored(page, member):
    user = member(Role.EDITOR, username="dana")
    page.goto("/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(f"pw-{user.get_username()}")
    requests = []
    page.on("request", lambda r: r.method == "POST" and requests.append(r.url))
    page.get_by_role("button", name="Log in").dblclick()
    page.wait_for_url(lambda url: "/login/" not in url)
    assert len(requests) == 1, requests
    expect(page.locator('link[rel="icon"]')).to_have_attribute("href", "/static/favicon.svg")

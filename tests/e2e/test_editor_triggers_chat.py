"""The editor's Triggers tab and the Test run tab's chat, in a real browser: a schedule with a
bad cron is refused next to the field, fixed, and shows its next fire time; two chat messages
to the draft, the second answered from the memory of the first."""

import json

import pytest
from playwright.sync_api import expect

from builder.services import flow_create
from tests.conversations.test_memory import SCRIPTED_MODEL, chat_graph
from tests.llmserver import last_user_message, text
from triggers.models import Schedule
from workspaces.models import Role

from .conftest import login

pytestmark = pytest.mark.e2e


def now_part(request) -> str:
    return last_user_message(request).split("Now:")[-1]


def scripted_embeddings(page) -> None:
    """Start conversations with the scripted server's embeddings (the server's default is the
    local model, which the browser tests' server does not load)."""

    def rewrite(route):
        body = json.loads(route.request.post_data or "{}")
        route.continue_(post_data=json.dumps({**body, "embedding_model": SCRIPTED_MODEL}))

    page.route("**/api/flows/*/conversations", rewrite)


def test_schedule_errors_next_fire_time_and_draft_chat(
    page, member, workspace, llm_server, artifacts
):
    editor = member(Role.EDITOR, "editor-e2e")
    flow = flow_create(
        user=editor, workspace_id=workspace.pk, name="Pet helper", graph=chat_graph()
    )
    llm_server.on(
        lambda r: "dog called" in now_part(r),
        lambda r: text(
            "Your dog is called Biscuit, as you told me."
            if "Biscuit" in last_user_message(r).split("Now:")[0]
            else "I don't know your dog's name yet."
        ),
    )
    llm_server.on(
        lambda r: "Biscuit" in now_part(r), text("What a lovely name. I will remember Biscuit.")
    )

    login(page, editor)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    scripted_embeddings(page)
    page.goto(f"/flows/{flow.pk}/")
    page.locator("[data-link=triggers]").click()
    panel = page.locator("[data-slot=triggers]")
    expect(panel.locator("[data-schedules-empty]")).to_be_visible()
    expect(panel.locator("[data-webhook-empty]")).to_be_visible()
    expect(panel.locator("[data-not-published]")).to_be_visible()
    page.screenshot(path=str(artifacts / "editor-triggers-empty.png"))

    panel.locator("[data-schedules-empty] [data-action=add-schedule]").click()
    form = panel.locator("[data-schedule-form]")
    form.get_by_label("When (cron)").fill("61 9 * * *")
    form.get_by_label("Time zone").fill("Europe/Lisbon")
    form.locator("[data-action=save-schedule]").click()
    problem = form.locator("[data-problem-for=cron]")
    expect(problem).to_contain_text("can't be read")
    expect(form.get_by_label("When (cron)")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(artifacts / "editor-triggers-bad-cron.png"))
    assert not Schedule.objects.exists()

    form.get_by_label("When (cron)").fill("0 9 * * 1-5")
    expect(problem).to_have_count(0)
    form.locator("[data-action=save-schedule]").click()
    row = panel.locator("[data-schedule]")
    expect(row).to_contain_text("0 9 * * 1-5")
    expect(row).to_contain_text("Europe/Lisbon")
    expect(row.locator("[data-next-run]")).to_contain_text("Next:")
    schedule = Schedule.objects.get()
    assert schedule.cron == "0 9 * * 1-5" and schedule.timezone == "Europe/Lisbon"
    page.screenshot(path=str(artifacts / "editor-triggers-schedule.png"))

    page.get_by_role("tab", name="Test run").click()
    chat = page.locator("[data-slot=test-chat]")
    expect(chat.locator("[data-chat-empty]")).to_be_visible()
    box = chat.get_by_role("textbox", name="Message")
    box.fill("My dog is called Biscuit.")
    box.press("Enter")
    first = chat.locator("[data-turn='1']")
    expect(first.locator("[data-answer]")).to_have_text(
        "What a lovely name. I will remember Biscuit."
    )
    expect(box).to_have_value("")
    box.fill("What is my dog called?")
    chat.locator("[data-action=chat-send]").click()
    second = chat.locator("[data-turn='2']")
    expect(second.locator("[data-answer]")).to_have_text(
        "Your dog is called Biscuit, as you told me."
    )
    expect(second.locator("[data-memory]")).to_contain_text("remembered message 1")
    expect(second.locator("[data-run-link]")).to_be_visible()
    # Each message's run lights the canvas's nodes, like a test run from the inputs form.
    for node_id in ("ask", "recall", "answer", "result"):
        badge = page.locator(f'.sb-run-badge[data-node-id="{node_id}"]')
        expect(badge).to_have_attribute("data-run-state", "succeeded")
    page.screenshot(path=str(artifacts / "editor-test-chat.png"))
    # What the model was sent for the second answer carried the first message, from memory.
    asked = [r for r in llm_server.requests if "dog called" in now_part(r)]
    assert len(asked) == 1
    assert "Biscuit" in last_user_message(asked[0]).split("Now:")[0]
    assert not errors


def test_a_viewer_sees_triggers_read_only(page, member, workspace, artifacts):
    owner = member(Role.EDITOR, "trig-owner")
    viewer = member(Role.VIEWER, "trig-viewer")
    flow = flow_create(user=owner, workspace_id=workspace.pk, name="Watched", graph=chat_graph())
    from triggers.services import schedule_create

    schedule_create(flow=flow, user=owner, cron_expression="30 7 * * *", tz="UTC")
    login(page, viewer)
    page.goto(f"/flows/{flow.pk}/")
    page.locator("[data-link=triggers]").click()
    panel = page.locator("[data-slot=triggers]")
    expect(panel.locator("[data-schedule]")).to_contain_text("30 7 * * *")
    expect(panel).to_contain_text("can see this flow's triggers but not change them")
    expect(panel.locator("[data-action]")).to_have_count(0)
    expect(panel.locator("[data-schedule] input[type=checkbox]")).to_be_disabled()

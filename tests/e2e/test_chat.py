"""The chat page in a real browser: two turns against the scripted server, the answers streamed
in without a reload, the second answering from the memory of the first."""

import pytest
from playwright.sync_api import expect

from builder.services import flow_create, flow_publish
from conversations.models import Conversation
from conversations.services import conversation_start, message_send, turn_write
from runs.models import Step
from tests.conversations.test_memory import BUDGET, SCRIPTED_MODEL, chat_graph
from tests.llmserver import last_user_message, text
from tests.runs.support import finish_inline
from workspaces.models import Role

from .conftest import login
from .test_run_page import slow_stream  # noqa: F401 (a fixture, used by name)

pytestmark = pytest.mark.e2e


def now_part(request) -> str:
    return last_user_message(request).split("Now:")[-1]


@pytest.mark.usefixtures("slow_stream")
def test_chat_two_turns_the_second_remembers_the_first(
    page, new_page, member, workspace, llm_server, artifacts
):
    editor = member(Role.EDITOR, "chat-e2e")
    flow = flow_create(
        user=editor, workspace_id=workspace.pk, name="Pet helper", graph=chat_graph()
    )
    flow_publish(flow=flow, user=editor)
    # Conversations embed their turns with the scripted server's /v1/embeddings.
    conversation = conversation_start(user=editor, flow_id=flow.pk, embedding_model=SCRIPTED_MODEL)
    llm_server.on(
        lambda r: "dog called" in now_part(r),
        lambda r: text(
            "Your dog is called Biscuit, as you told me."
            if "Biscuit" in last_user_message(r).split("Now:")[0]
            else "I don't know your dog's name yet."
        ),
    )
    llm_server.on(
        lambda r: "Biscuit" in now_part(r),
        text("What a lovely name for a dog. I will remember Biscuit from now on."),
    )

    login(page, editor)
    page.goto(f"/flows/{flow.pk}/chat/")
    page.wait_for_url(f"**/flows/{flow.pk}/chat/{conversation.pk}/")
    expect(page.get_by_role("heading", name="Start a conversation")).to_be_visible()
    page.screenshot(path=str(artifacts / "chat-empty.png"))

    box = page.get_by_role("textbox", name="Message")
    box.fill("My dog is called Biscuit.")
    box.press("Enter")
    first = page.locator("#turn-1")
    expect(first.locator("[data-message]")).to_have_text("My dog is called Biscuit.")
    expect(box).to_have_value("")
    # The answer streams into the bubble, then the finished turn replaces it (with its run).
    expect(first.locator("[data-stream], [data-answer]").first).to_contain_text("lovely name")
    expect(first.locator("[data-answer]")).to_have_text(
        "What a lovely name for a dog. I will remember Biscuit from now on."
    )
    expect(page.get_by_role("heading", name="Start a conversation")).to_have_count(0)

    box.fill("What is my dog called?")
    page.get_by_role("button", name="Send").click()
    second = page.locator("#turn-2")
    expect(second.locator("[data-thinking], [data-stream]").first).to_be_visible()
    expect(second.locator("[data-answer]")).to_have_text(
        "Your dog is called Biscuit, as you told me."
    )
    run_id = Conversation.objects.get(pk=conversation.pk).turns.get(position=2).run_id
    expect(second.locator("[data-run-link]")).to_have_attribute("href", f"/runs/{run_id}/")
    expect(second).to_contain_text("remembered message 1")
    expect(page.locator("[data-conversations] .active")).to_contain_text("2 messages")
    # What the model was sent for the second answer carried the first turn, from memory.
    asked = [r for r in llm_server.requests if "dog called" in now_part(r)]
    assert len(asked) == 1
    earlier = last_user_message(asked[0]).split("Now:")[0]
    assert "User: My dog is called Biscuit." in earlier
    assert "Assistant: What a lovely name" in earlier
    page.screenshot(path=str(artifacts / "chat-two-turns.png"), full_page=True)

    # The run page lists the earlier messages the memory step used, with their tokens.
    run_page = new_page()
    login(run_page, editor)
    run_page.goto(f"/runs/{run_id}/")
    run_page.locator('[data-step-node="recall"] .sb-step-head').click()
    remembered = run_page.locator("[data-remembered]")
    expect(remembered.locator("[data-memory-usage]")).to_contain_text("1 of 1 earlier message used")
    expect(remembered.locator("[data-memory-turn]")).to_have_count(1)
    expect(remembered.locator('[data-memory-turn="1"]')).to_contain_text(
        "User: My dog is called Biscuit."
    )
    run_page.screenshot(path=str(artifacts / "chat-run-memory-step.png"))
    run_page.close()

    # Rename it; the list on the left follows.
    page.get_by_text("Rename").click()
    page.get_by_role("textbox", name="Name").fill("About Biscuit")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-conversation-title]")).to_have_text("About Biscuit")
    expect(page.locator("[data-conversations] .active")).to_contain_text("About Biscuit")
    expect(page.locator("[data-conversations] .active")).to_contain_text("2 messages")


def test_chat_link_from_the_flows_list_and_the_states_without_chat(
    page, new_page, member, workspace, artifacts
):
    editor = member(Role.EDITOR, "chat-lister")
    published = flow_create(user=editor, workspace_id=workspace.pk, name="Published helper",
                            graph=chat_graph())  # fmt: skip
    flow_publish(flow=published, user=editor)
    draft = flow_create(user=editor, workspace_id=workspace.pk, name="Draft helper",
                        graph=chat_graph())  # fmt: skip

    published.description = "Answers questions about pets, remembers their names. " * 4
    published.save(update_fields=["description"])

    login(page, editor)
    page.goto(f"/?workspace={workspace.pk}")
    expect(page.get_by_role("link", name="Chat with Draft helper")).to_have_count(0)
    # Five row actions and a long description stay inside the table's card.
    table_right, card_right = page.locator(".sb-flow-table").evaluate(
        "t => [t.getBoundingClientRect().right, t.parentElement.getBoundingClientRect().right]"
    )
    assert table_right <= card_right + 1
    page.screenshot(path=str(artifacts / "flows-list-chat-link.png"))
    page.get_by_role("link", name="Chat with Published helper").click()
    page.wait_for_url(f"**/flows/{published.pk}/chat/")
    expect(page.get_by_role("heading", name="Chat with Published helper")).to_be_visible()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()

    page.goto(f"/flows/{draft.pk}/chat/")
    expect(page.locator("[data-chat-problem]")).to_contain_text("no published version yet")
    expect(page.get_by_role("textbox", name="Message")).to_have_count(0)
    page.screenshot(path=str(artifacts / "chat-not-published.png"))

    viewer = member(Role.VIEWER, "chat-reader")
    other = new_page()
    login(other, viewer)
    other.goto(f"/flows/{published.pk}/chat/")
    expect(other.locator("[data-chat-readonly]")).to_contain_text("Viewer")
    expect(other.get_by_role("textbox", name="Message")).to_have_count(0)
    other.screenshot(path=str(artifacts / "chat-viewer.png"))


def test_turn_30_in_the_browser_answers_from_turn_2_within_the_budget(
    page, member, workspace, llm_server, artifacts, settings
):
    """28 turns written the way the server writes them, then turns 29 and 30 typed in the page:
    the 30th answers from a fact of the 2nd, and memory kept a few messages within its budget."""
    settings.SWITCHBOARD_MEMORY_INLINE = True  # the seeded turns are written in this process
    editor = member(Role.EDITOR, "chat-thirty")
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Trip helper",
                       graph=chat_graph())  # fmt: skip
    flow_publish(flow=flow, user=editor)
    conversation = conversation_start(user=editor, flow_id=flow.pk, embedding_model=SCRIPTED_MODEL)
    llm_server.on(
        lambda r: "dog" in now_part(r),
        lambda r: text(
            "Your dog is called Biscuit." if "Biscuit" in last_user_message(r) else "I don't know."
        ),
    )
    seeded = ["Hi there, I want to plan a trip.", "Remember this: my dog is named Biscuit."]
    filler = "Filler question {} about trains, weather number {} and maps."
    seeded += [filler.format(i, i) for i in range(3, 29)]
    for message in seeded:
        turn = message_send(user=editor, conversation=conversation, text=message)
        run = finish_inline(turn.run, editor)
        assert run.status == "succeeded", (run.error_code, run.error_message)
        turn_write(run_id=run.pk)

    login(page, editor)
    page.goto(f"/flows/{flow.pk}/chat/{conversation.pk}/")
    expect(page.locator("#turn-28 [data-message]")).to_contain_text("Filler question 28")
    box = page.get_by_role("textbox", name="Message")
    box.fill("One more filler question 29 about trains and maps.")
    box.press("Enter")
    expect(page.locator("#turn-29 [data-answer]")).to_be_visible()
    box.fill("What is the name of my dog?")
    box.press("Enter")
    last = page.locator("#turn-30")
    expect(last.locator("[data-answer]")).to_have_text("Your dog is called Biscuit.")
    expect(last).to_contain_text(f"of {BUDGET} tokens")
    page.screenshot(path=str(artifacts / "chat-turn-30.png"), full_page=True)

    run_id = Conversation.objects.get(pk=conversation.pk).turns.get(position=30).run_id
    step = Step.objects.get(run_id=run_id, node_id="recall")
    used = step.details["memory"]["turns"]
    assert 2 in used and len(used) < 29  # the fact's turn, not the whole history
    assert step.details["memory"]["considered"] == 29
    assert 0 < step.output["tokens"] <= BUDGET
    expect(last).to_contain_text("remembered messages")

"""The chat page of a flow: auth and workspace scoping, roles, bad ids, flows it cannot chat
with, sending (plain and htmx), the answer with its sources and run link, rename and delete."""

import pytest

from builder.services import flow_create, flow_publish
from builder.starters import STARTERS
from conversations.models import Conversation, Turn
from conversations.services import conversation_start, turn_write
from knowledge import services as knowledge
from knowledge.ingestion import document_ingest
from runs.models import Run
from tests.llmserver import http_error, last_user_message, text
from tests.runs.support import fast_passwords, finish_inline  # noqa: F401
from workspaces.models import Role

from .test_memory import SCRIPTED_MODEL, chat_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "chat-editor")


@pytest.fixture
def flow(settings, llm_server, editor, workspace):
    settings.SWITCHBOARD_MEMORY_INLINE = True
    settings.SWITCHBOARD_EMBEDDING_MODEL = SCRIPTED_MODEL
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Helper", graph=chat_graph())
    flow_publish(flow=flow, user=editor)
    return flow


def logged_in(client, user):
    client.force_login(user)
    return client


def chat_url(flow, *rest):
    return "/".join([f"/flows/{flow.pk}/chat", *map(str, rest)]) + "/"


def send(client, flow, message, conversation=None, **headers):
    url = chat_url(flow, conversation.pk, "send") if conversation else chat_url(flow, "send")
    return client.post(url, {"message": message}, **headers)


def finish(user):
    run = Run.objects.latest("pk")
    run = finish_inline(run, user)
    turn_write(run_id=run.pk)
    return run


def test_anonymous_is_sent_to_the_login_page(client, flow):
    for response in (client.get(chat_url(flow)), send(client, flow, "hi")):
        assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Conversation.objects.exists()


def test_first_message_starts_a_conversation_and_its_answer_shows_with_the_run(
    client, flow, editor, llm_server
):
    llm_server.on(lambda r: True, lambda r: text("Porto is lovely in spring."))
    client = logged_in(client, editor)
    empty = client.get(chat_url(flow))
    assert empty.status_code == 200
    assert b"Start a conversation" in empty.content and b"data-chat-form" in empty.content

    response = send(client, flow, "Where should I travel in April?")
    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == chat_url(flow, conversation.pk)
    turn = Turn.objects.get(conversation=conversation)
    assert turn.run.inputs == {"message": "Where should I travel in April?"}
    pending = client.get(response["Location"])
    assert b"data-turn-live" in pending.content and b"Where should I travel" in pending.content

    run = finish(editor)
    page = client.get(chat_url(flow))  # opens the latest conversation
    assert page.status_code == 302 and page["Location"] == chat_url(flow, conversation.pk)
    page = client.get(page["Location"])
    assert b"Porto is lovely in spring." in page.content
    assert f'href="/runs/{run.pk}/"'.encode() in page.content
    assert b"data-turn-live" not in page.content
    fragment = client.get(chat_url(flow, conversation.pk, "turns", 1))
    assert fragment.status_code == 200 and b"Porto is lovely" in fragment.content


def test_htmx_send_appends_the_turn_and_the_second_answer_remembers_the_first(
    client, flow, editor, llm_server
):
    llm_server.on(
        lambda r: "dog" in last_user_message(r).split("Now:")[-1],
        lambda r: text("Biscuit!" if "Biscuit" in last_user_message(r) else "No idea."),
    )
    client = logged_in(client, editor)
    send(client, flow, "My dog is called Biscuit.")
    finish(editor)
    conversation = Conversation.objects.get()
    response = send(client, flow, "What is my dog called?", conversation, HTTP_HX_REQUEST="true")
    assert response.status_code == 201
    assert b'id="turn-2"' in response.content and b"<html" not in response.content
    finish(editor)
    fragment = client.get(chat_url(flow, conversation.pk, "turns", 2))
    assert b"Biscuit!" in fragment.content
    assert b"remembered message 1" in fragment.content


def test_the_answer_lists_the_sources_the_retrieve_step_found(
    client, settings, llm_server, editor, workspace
):
    kb = knowledge.kb_create(
        user=editor, workspace_id=workspace.pk, name="Handbook", chunk_size=300,
        chunk_overlap=0, embedding_model=SCRIPTED_MODEL,
    )  # fmt: skip
    document = knowledge.document_add_text(
        user=editor, kb=kb, title="leave.md", file_format="md",
        text="# Leave\n\n## Sick days\n\nStaff get twelve sick days a year.\n",
    )  # fmt: skip
    assert document_ingest(document_id=document.pk, worker="test") == "ready"
    graph = STARTERS["answer-from-knowledge"].fresh_graph()
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Ask HR", graph=graph)
    flow_publish(flow=flow, user=editor)
    settings.SWITCHBOARD_EMBEDDING_MODEL = SCRIPTED_MODEL
    llm_server.on(lambda r: True, lambda r: text("Twelve a year [leave.md]."))
    client = logged_in(client, editor)
    send(client, flow, "How many sick days do I get?")
    finish(editor)
    assert "twelve sick days" in last_user_message(llm_server.requests[-1])
    page = client.get(chat_url(flow, Conversation.objects.get().pk))
    assert b"data-sources" in page.content and b"leave.md" in page.content
    assert b"Sick days" in page.content and b"Twelve a year [leave.md]." in page.content


def test_a_flow_with_no_published_version_says_so_and_starts_nothing(client, editor, workspace):
    draft = flow_create(user=editor, workspace_id=workspace.pk, name="Draft", graph=chat_graph())
    client = logged_in(client, editor)
    page = client.get(chat_url(draft))
    assert page.status_code == 200
    assert b"no published version yet" in page.content and b"data-chat-form" not in page.content
    response = send(client, draft, "hello")
    assert response.status_code == 409 and b"no published version yet" in response.content
    assert not Conversation.objects.exists() and not Run.objects.exists()


def test_a_flow_whose_input_takes_no_message_says_how_to_fix_it(client, editor, workspace):
    graph = chat_graph()
    graph["nodes"][0]["config"]["schema"] = {
        "type": "object",
        "required": ["question"],
        "properties": {"question": {"type": "string"}},
    }
    graph["nodes"][0]["config"]["sample"] = {"question": "?"}
    graph["nodes"][1]["config"]["query"] = "{{ inputs.question }}"
    graph["nodes"][2]["config"]["prompt"] = "{{ inputs.question }}"
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Q", graph=graph)
    flow_publish(flow=flow, user=editor)
    page = logged_in(client, editor).get(chat_url(flow))
    assert b"does not take a chat message" in page.content
    assert send(client, flow, "hi").status_code == 409


def test_a_viewer_reads_the_page_but_cannot_chat(client, flow, member):
    viewer = member(Role.VIEWER, "chat-viewer")
    client = logged_in(client, viewer)
    page = client.get(chat_url(flow))
    assert page.status_code == 200
    assert b"Chat is for editors" in page.content and b"data-chat-form" not in page.content
    response = send(client, flow, "hello")
    assert response.status_code == 403 and b"Your role does not allow this." in response.content
    assert not Conversation.objects.exists() and not Run.objects.exists()


def test_empty_message_is_refused_with_the_reason(client, flow, editor):
    client = logged_in(client, editor)
    response = send(client, flow, "   ")
    assert response.status_code == 422 and b"The message is empty." in response.content
    conversation = conversation_start(user=editor, flow_id=flow.pk)
    htmx = send(client, flow, "", conversation, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 422 and b"data-send-error" in htmx.content
    assert not Turn.objects.exists()


def test_other_workspaces_and_other_people_get_404_everywhere(
    client, flow, editor, member, other_workspace
):
    conversation = conversation_start(user=editor, flow_id=flow.pk)
    stranger = member(Role.OWNER, "stranger", ws=other_workspace)
    colleague = member(Role.EDITOR, "colleague")
    gets = [
        chat_url(flow),
        chat_url(flow, conversation.pk),
        chat_url(flow, conversation.pk, "turns", 1),
    ]
    posts = [
        chat_url(flow, "send"),
        *(chat_url(flow, conversation.pk, a) for a in ("send", "rename", "delete")),
    ]
    for user, urls in ((stranger, gets + posts), (colleague, gets[1:] + posts[1:])):
        client = logged_in(client, user)
        for url in urls:
            response = client.get(url) if url in gets else client.post(url, {"message": "hi"})
            assert response.status_code == 404, (user.username, url, response.status_code)
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Turn.objects.exists()


def test_bad_ids_are_404_never_500(client, flow, editor, workspace):
    client = logged_in(client, editor)
    conversation = conversation_start(user=editor, flow_id=flow.pk)
    other = flow_create(user=editor, workspace_id=workspace.pk, name="Other", graph=chat_graph())
    for url in (
        "/flows/99999999999999999999/chat/",
        "/flows/0/chat/",
        f"/flows/{flow.pk}/chat/abc/",
        chat_url(flow, 9_000_000_000_000),
        chat_url(flow, conversation.pk, "turns", 7),
        chat_url(flow, conversation.pk, "turns", 9_000_000_000_000),
        chat_url(other, conversation.pk),  # the conversation is with another flow
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(chat_url(flow, conversation.pk, "send")).status_code == 405


def test_rename_and_delete(client, flow, editor):
    client = logged_in(client, editor)
    send(client, flow, "Hello there")
    finish(editor)
    conversation = Conversation.objects.get()
    renamed = client.post(chat_url(flow, conversation.pk, "rename"), {"title": "  Trip   plans "})
    assert renamed.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans"
    page = client.get(chat_url(flow, conversation.pk))
    assert page.content.count(b"Trip plans") >= 2  # the heading and the list
    too_long = client.post(chat_url(flow, conversation.pk, "rename"), {"title": "x" * 121})
    assert too_long.status_code == 422 and b"at most 120 characters" in too_long.content

    run_id = Turn.objects.get().run_id
    deleted = client.post(chat_url(flow, conversation.pk, "delete"))
    assert deleted.status_code == 302 and deleted["Location"] == chat_url(flow) + "?new"
    assert not Conversation.objects.exists() and not Turn.objects.exists()
    assert Run.objects.filter(pk=run_id).exists()  # the runs stay in the history
    assert b"Start a conversation" in client.get(deleted["Location"]).content


def test_a_run_waiting_for_approval_links_to_the_inbox(client, editor, workspace, llm_server):
    graph = chat_graph()
    graph["nodes"].insert(
        3,
        {"id": "check", "type": "approval", "label": "Check", "position": {"x": 500, "y": 0},
         "config": {"instructions": "Check it"}},
    )  # fmt: skip
    graph["edges"][-1] = {"id": "e_answer_check", "source": "answer", "source_port": "out",
                          "target": "check", "target_port": "in"}  # fmt: skip
    graph["edges"].append({"id": "e_check_result", "source": "check", "source_port": "approved",
                           "target": "result", "target_port": "in"})  # fmt: skip
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Careful", graph=graph)
    flow_publish(flow=flow, user=editor)
    client = logged_in(client, editor)
    send(client, flow, "Hello")
    from runs.executor import InlineExecutor

    InlineExecutor().advance(Run.objects.get().pk)
    conversation = Conversation.objects.get()
    page = client.get(chat_url(flow, conversation.pk))
    assert b"Waiting for approval." in page.content and b"/approvals/" in page.content


def test_a_failed_run_says_so_in_plain_words_with_the_run_link(client, flow, editor, llm_server):
    llm_server.on(lambda r: True, http_error(400, message="The prompt is not allowed."))
    client = logged_in(client, editor)
    send(client, flow, "Hello")
    run = finish_inline(Run.objects.get(), editor)
    assert run.status == "failed"
    page = client.get(chat_url(flow, Conversation.objects.get().pk))
    assert b"The flow could not answer." in page.content
    assert run.error_message.encode() in page.content
    assert f'href="/runs/{run.pk}/"'.encode() in page.content


def test_the_flows_list_links_published_flows_to_their_chat(client, flow, editor, workspace):
    draft = flow_create(user=editor, workspace_id=workspace.pk, name="Draft", graph=chat_graph())
    page = logged_in(client, editor).get(f"/?workspace={workspace.pk}")
    assert chat_url(flow).encode() in page.content
    assert chat_url(draft).encode() not in page.content
    editor_page = client.get(f"/flows/{flow.pk}/")
    assert f"&quot;chatUrl&quot;: &quot;{chat_url(flow)}&quot;".encode() in editor_page.content


def test_a_long_conversation_shows_its_latest_messages(client, flow, editor):
    from conversations import selectors

    conversation = conversation_start(user=editor, flow_id=flow.pk)
    Turn.objects.bulk_create(
        Turn(conversation=conversation, position=i, message=f"Message number {i}")
        for i in range(1, 6)
    )
    shown = selectors.turns_shown(conversation, limit=3)
    assert [t["position"] for t in shown] == [3, 4, 5]
    assert all(t["status"] == "deleted" for t in shown)  # turns without a run
    page = logged_in(client, editor).get(chat_url(flow, conversation.pk))
    assert b"Message number 1" in page.content and b"chat-earlier" not in page.content


def test_the_support_starter_remembers_what_the_customer_said(
    client, settings, llm_server, editor, workspace
):
    settings.SWITCHBOARD_MEMORY_INLINE = True
    settings.SWITCHBOARD_EMBEDDING_MODEL = SCRIPTED_MODEL
    graph = STARTERS["support-with-memory"].fresh_graph()
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Support", graph=graph)
    flow_publish(flow=flow, user=editor)
    llm_server.on(lambda r: True, lambda r: text("Sorry about that, I am on it."))
    client = logged_in(client, editor)
    send(client, flow, "Hi, my order 4471 has not arrived yet.")
    finish(editor)
    send(client, flow, "Any news?", Conversation.objects.get(), HTTP_HX_REQUEST="true")
    finish(editor)
    prompt = last_user_message(llm_server.requests[-1])
    assert "Customer: Any news?" in prompt
    assert "User: Hi, my order 4471 has not arrived yet." in prompt
    first = last_user_message(llm_server.requests[0])
    assert "(nothing yet)" in first

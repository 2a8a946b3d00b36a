"""Chatting with a flow's draft over the API (the editor's Test run tab): the draft runs, the
second message remembers the first, each turn reads back with its memory; who may do it."""

import pytest

from builder.models import Flow
from builder.services import flow_create
from conversations.models import Turn
from runs.models import Run
from tests.llmserver import last_user_message, text
from tests.runs.support import finish_inline
from workspaces.models import Role

from .test_memory import SCRIPTED_MODEL, chat_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "draft-editor")


@pytest.fixture
def flow(settings, llm_server, editor, workspace):
    settings.SWITCHBOARD_MEMORY_INLINE = True
    settings.SWITCHBOARD_EMBEDDING_MODEL = SCRIPTED_MODEL
    return flow_create(user=editor, workspace_id=workspace.pk, name="Draft", graph=chat_graph())


def start(api, flow):
    response = api.post(f"/api/flows/{flow.pk}/conversations", {})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def send(api, conversation_id, message, draft=True):
    return api.post(
        f"/api/conversations/{conversation_id}/messages", {"text": message, "draft": draft}
    )


def test_the_draft_answers_and_remembers_the_first_message(api_for, flow, editor, llm_server):
    seen = []
    llm_server.on(lambda r: True, lambda r: (seen.append(last_user_message(r)), text("Noted."))[1])
    api = api_for(editor)
    conversation = start(api, flow)
    for message in ("My dog is called Biscuit.", "What is my dog called?"):
        response = send(api, conversation, message)
        assert response.status_code == 202, response.content
        run = Run.objects.get(pk=response.json()["run"])
        assert run.version.is_draft_snapshot
        finish_inline(run, editor)
    assert "Biscuit" in seen[-1] and "What is my dog called?" in seen[-1]
    second = api.get(f"/api/conversations/{conversation}/turns/2").json()
    assert second["status"] == "succeeded" and second["answer"] == "Noted."
    assert second["memory"]["turns"] == [1]
    assert set(second) >= {"sources", "run_id", "last_seq", "finished"}


def test_a_draft_without_a_message_input_is_refused_in_words(api_for, flow, editor):
    graph = chat_graph()
    graph["nodes"][0]["config"]["schema"] = {
        "type": "object",
        "required": ["city"],
        "properties": {"city": {"type": "string"}},
    }
    Flow.objects.filter(pk=flow.pk).update(graph=graph)
    api = api_for(editor)
    response = send(api, start(api, flow), "hello")
    assert response.status_code == 409
    assert response.json()["code"] == "no_message_input"
    assert "message" in response.json()["detail"]
    assert not Turn.objects.exists()


def test_a_viewer_cannot_chat_with_the_draft(api_for, member, flow):
    viewer = api_for(member(Role.VIEWER, "draft-viewer"))
    response = viewer.post(f"/api/flows/{flow.pk}/conversations", {})
    assert response.status_code == 403
    assert not Turn.objects.exists()


def test_turns_of_someone_elses_conversation_are_not_found(
    api_for, member, flow, editor, other_workspace
):
    api = api_for(editor)
    conversation = start(api, flow)
    other = api_for(member(Role.OWNER, "draft-other", ws=other_workspace))
    assert other.get(f"/api/conversations/{conversation}/turns/1").status_code == 404
    assert api.get(f"/api/conversations/{conversation}/turns/1").status_code == 404
    assert api.get(f"/api/conversations/{conversation}/turns/0").status_code in (404, 422)
    assert api_for(None).get(f"/api/conversations/{conversation}/turns/1").status_code == 401

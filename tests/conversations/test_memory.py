"""Conversations over the API, the memory node in real runs (scripted server for the model and
its /v1/embeddings), and reproduce of a run with memory making zero calls."""

import pytest

from builder.services import flow_create, flow_publish
from conversations.models import Conversation, Turn
from conversations.services import turn_write
from runs.executor import InlineExecutor
from runs.models import Recording, Run, Step
from runs.services.reruns import run_reproduce
from tests.llmserver import last_user_message, text
from tests.runs.support import (  # noqa: F401
    fast_passwords,
    finish_inline,
    inline,
    memory_layer,
    token_for,
)
from workspaces.models import Role

pytestmark = pytest.mark.django_db

SCRIPTED_MODEL = "openai/text-embedding-3-small"
BUDGET = 200


def chat_graph(budget: int = BUDGET) -> dict:
    def node(node_id, type_, x, **config):
        return {"id": node_id, "type": type_, "label": node_id.title(),
                "position": {"x": x, "y": 0}, "config": config}  # fmt: skip

    def edge(source, target):
        return {"id": f"e_{source}_{target}", "source": source, "source_port": "out",
                "target": target, "target_port": "in"}  # fmt: skip

    return {
        "schema_version": 1,
        "nodes": [
            node(
                "ask",
                "input",
                0,
                schema={
                    "type": "object",
                    "required": ["message"],
                    "properties": {"message": {"type": "string"}},
                },
                sample={"message": "hello"},
            ),
            node("recall", "memory", 200, token_budget=budget),
            node(
                "answer",
                "prompt",
                400,
                prompt="Earlier:\n{{ nodes.recall.output.text }}\nNow: {{ inputs.message }}",
            ),
            node("result", "output", 600),
        ],
        "edges": [edge("ask", "recall"), edge("recall", "answer"), edge("answer", "result")],
    }


@pytest.fixture
def chat(settings, llm_server, member, workspace):
    settings.SWITCHBOARD_MEMORY_INLINE = True
    editor = member(Role.EDITOR, "chatter")
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Chat", graph=chat_graph())
    flow_publish(flow=flow, user=editor)
    return editor, flow


def api(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_for(user)}"
    return client


def say(client, conversation_id, message, user):
    response = client.post(
        f"/api/conversations/{conversation_id}/messages",
        {"text": message},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["run"])
    if run.status not in ("succeeded", "failed"):
        run = finish_inline(run, user)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    turn_write(run_id=run.pk)  # idempotent: already written by the listener
    return run


def start(client, flow):
    response = client.post(
        f"/api/flows/{flow.pk}/conversations",
        {"embedding_model": SCRIPTED_MODEL},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_turn_30_answers_from_a_fact_of_turn_2_within_the_budget(chat, client, llm_server):
    editor, flow = chat
    llm_server.on(
        lambda r: "dog" in last_user_message(r).split("Now:")[-1],
        lambda r: text(
            "Your dog is called Biscuit." if "Biscuit" in last_user_message(r) else "I don't know."
        ),
    )
    client = api(client, editor)
    cid = start(client, flow)
    say(client, cid, "Hi there, I want to plan a trip.", editor)
    say(client, cid, "Remember this: my dog is named Biscuit.", editor)
    for i in range(3, 30):
        say(client, cid, f"Filler question {i} about trains, weather number {i} and maps.", editor)
    run = say(client, cid, "What is the name of my dog?", editor)

    assert run.result and "Biscuit" in str(run.result)
    step = Step.objects.get(run=run, node_id="recall")
    assert 2 in step.details["memory"]["turns"]
    assert step.details["memory"]["considered"] == 29
    assert 0 < step.output["tokens"] <= BUDGET
    assert len(step.details["memory"]["turns"]) < 29  # not the whole history
    recording = Recording.objects.get(step=step)
    assert recording.kind == "memory"

    # Reproduce: zero model and embedding calls, same recalled turns.
    llm_server.reset()
    copy = run_reproduce(user=editor, run=run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded", (copy.error_code, copy.error_message)
    assert llm_server.call_count == 0 and llm_server.embedding_requests == []
    assert Step.objects.get(run=copy, node_id="recall").output == step.output

    view = client.get(f"/api/conversations/{cid}").json()
    assert len(view["turns"]) == 30 and "Biscuit" in view["turns"][-1]["answer"]


def test_delete_removes_turns_and_embeddings_and_other_workspaces_get_404(
    chat, client, member, other_workspace, llm_server
):
    editor, flow = chat
    client = api(client, editor)
    cid = start(client, flow)
    say(client, cid, "My favourite colour is teal.", editor)
    assert Turn.objects.filter(conversation_id=cid, vector__isnull=False).count() == 1

    stranger = member(Role.EDITOR, "stranger", ws=other_workspace)
    other = api(client.__class__(), stranger)
    assert other.get(f"/api/conversations/{cid}").status_code == 404
    reply = other.post(
        f"/api/conversations/{cid}/messages", {"text": "hi"}, content_type="application/json"
    )
    assert reply.status_code == 404
    assert other.delete(f"/api/conversations/{cid}").status_code == 404
    missing = other.post(f"/api/flows/{flow.pk}/conversations", {}, content_type="application/json")
    assert missing.status_code == 404

    empty = client.post(
        f"/api/conversations/{cid}/messages", {"text": ""}, content_type="application/json"
    )
    assert empty.status_code == 422

    assert client.delete(f"/api/conversations/{cid}").status_code == 204
    assert not Conversation.objects.filter(pk=cid).exists()
    assert Turn.objects.filter(conversation_id=cid).count() == 0
    assert client.get(f"/api/conversations/{cid}").status_code == 404


def test_memory_outside_a_conversation_fails_clearly(chat, llm_server):
    editor, flow = chat
    from runs.services import run_start

    run = finish_inline(run_start(user=editor, flow=flow, inputs={"message": "hi"}), editor)
    step = Step.objects.get(run=run, node_id="recall")
    assert step.error_code == "no_conversation"


def test_a_turn_not_written_yet_is_written_by_the_next_recall(chat, client, llm_server):
    editor, flow = chat
    client = api(client, editor)
    cid = start(client, flow)
    for message in ("My locker code is 4471.", "What is my locker code?"):
        response = client.post(
            f"/api/conversations/{cid}/messages", {"text": message}, content_type="application/json"
        )
        # Finished in this thread, so the on-commit listener that writes turns never runs.
        run = finish_inline(Run.objects.get(pk=response.json()["run"]), editor)
    assert Step.objects.get(run=run, node_id="recall").details["memory"]["turns"] == [1]
    assert "4471" in Turn.objects.get(conversation_id=cid, position=1).message


@pytest.mark.django_db(transaction=True)
def test_the_memory_thread_writes_turns_and_skips_runs_that_are_none(
    chat,
    client,
    inline,  # noqa: F811
    settings,
):
    from conversations.services import _pool, _turn_unwritten
    from tests.runs.support import wait_until

    settings.SWITCHBOARD_MEMORY_INLINE = False  # on its thread, as a server does
    editor, flow = chat
    client = api(client, editor)
    cid = start(client, flow)
    response = client.post(
        f"/api/conversations/{cid}/messages", {"text": "Hello"}, content_type="application/json"
    )
    run = Run.objects.get(pk=response.json()["run"])  # run to its end inline, then committed
    assert run.status == "succeeded"
    turn = wait_until(lambda: Turn.objects.filter(run=run, vector__isnull=False).first())
    assert turn.answer and turn.tokens > 0
    assert not _turn_unwritten(run.pk)
    # A finished run that is no conversation's turn costs the thread one probe and no write.
    from conversations.services import _write_on_pool
    from runs.services import run_start

    # (Its memory node fails it, outside a conversation; the probe is the same either way.)
    plain = run_start(user=editor, flow=flow, inputs={"message": "Not a turn"})
    InlineExecutor().advance(plain.pk)
    assert not _turn_unwritten(plain.pk)
    _pool.submit(_write_on_pool, plain.pk).result(timeout=10)
    assert list(Turn.objects.values_list("run_id", flat=True)) == [run.pk]

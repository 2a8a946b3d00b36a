"""The memory node's rolling summary in real runs against the scripted server: it is created
once the history outgrows the budget, reused and extended with only the new overflow, the
prompt sent stays within the budget, and a reproduction makes zero calls and writes nothing."""

import pytest

from builder.services import flow_create, flow_publish
from conversations.models import Conversation
from conversations.services import turn_write
from conversations.tokens import count
from runs.executor import InlineExecutor
from runs.models import Recording, Run, Step
from runs.services.reruns import run_reproduce
from tests.llmserver import last_user_message, text
from tests.runs.support import fast_passwords, finish_inline, token_for  # noqa: F401
from workspaces.models import Role

from .test_memory import api, chat_graph, start

pytestmark = pytest.mark.django_db

BUDGET = 240
SUMMARY = 80


def summarizing_graph() -> dict:
    graph = chat_graph(BUDGET)
    recall = next(n for n in graph["nodes"] if n["id"] == "recall")
    recall["config"].update(summarize=True, summary_tokens=SUMMARY)
    return graph


def is_summary(request) -> bool:
    return "running summary" in (request["messages"][0].get("content") or "")


def memory_section(request) -> str:
    return last_user_message(request).split("Earlier:\n", 1)[1].split("\nNow:", 1)[0]


@pytest.fixture
def summarizing(settings, llm_server, member, workspace):
    settings.SWITCHBOARD_MEMORY_INLINE = True
    editor = member(Role.EDITOR, "summarizer")
    flow = flow_create(
        user=editor, workspace_id=workspace.pk, name="Chat", graph=summarizing_graph()
    )
    flow_publish(flow=flow, user=editor)
    folds = []

    def fold(request):
        folds.append(last_user_message(request))
        return text(f"Fold {len(folds)}: the user has a dog called Biscuit and lives in Porto.")

    llm_server.on(is_summary, fold)
    llm_server.on(lambda r: True, lambda r: text("Noted, here is what I found for you."))
    return editor, flow, folds


def say(client, cid, message, user):
    response = client.post(
        f"/api/conversations/{cid}/messages", {"text": message}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    run = finish_inline(Run.objects.get(pk=response.json()["run"]), user)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    turn_write(run_id=run.pk)  # the listener writes it on commit, which a test never reaches
    return run


FILLER = "Tell me about the timetable of the regional trains on line {i} this winter, please."


def test_summary_is_created_reused_and_keeps_the_prompt_within_budget(
    summarizing, client, llm_server
):
    editor, flow, folds = summarizing
    client = api(client, editor)
    cid = start(client, flow)
    say(client, cid, "My dog is called Biscuit and I live in Porto.", editor)
    runs = [say(client, cid, FILLER.format(i=i), editor) for i in range(2, 16)]

    conversation = Conversation.objects.get(pk=cid)
    assert len(folds) >= 2, "the history outgrew the budget more than once"
    assert conversation.summary.startswith(f"Fold {len(folds)}:")
    assert 0 < conversation.summary_upto < 15
    view = client.get(f"/api/conversations/{cid}").json()
    assert view["summary"] == {"text": conversation.summary, "upto": conversation.summary_upto}
    # The first fold starts from nothing; each later one gets the summary so far and only turns
    # it does not cover yet.
    assert "(none yet)" in folds[0] and "Biscuit and I live in Porto" in folds[0]
    assert "Fold 1:" in folds[1] and "Biscuit and I live in Porto" not in folds[1]
    steps = [Step.objects.get(run=run, node_id="recall") for run in runs]
    folded = [
        s.details["memory"]["summary"]["folded"]
        for s in steps
        if "summary" in s.details.get("memory", {})
    ]
    flat = [position for group in folded for position in group]
    assert flat == sorted(set(flat)), "no turn is folded twice"
    assert sum(1 for s in steps if s.details["memory"].get("summary", {}).get("folded")) == len(
        folds
    )

    answers = [r for r in llm_server.requests if not is_summary(r)]
    for request in answers:
        assert count(memory_section(request)) <= BUDGET
    assert "Fold" in memory_section(answers[-1])
    last = steps[-1]
    assert last.output["tokens"] <= BUDGET and last.output["summary"]
    assert len(last.details["memory"]["turns"]) < 14


def test_reproducing_a_run_that_folded_makes_zero_calls_and_leaves_the_summary(
    summarizing, client, llm_server
):
    editor, flow, _folds = summarizing
    client = api(client, editor)
    cid = start(client, flow)
    say(client, cid, "My dog is called Biscuit and I live in Porto.", editor)
    runs = [say(client, cid, FILLER.format(i=i), editor) for i in range(2, 10)]
    folding = next(
        r for r in runs if Recording.objects.filter(step__run=r, kind="summary").exists()
    )
    before = Conversation.objects.values_list("summary", "summary_upto").get(pk=cid)
    step = Step.objects.get(run=folding, node_id="recall")

    llm_server.reset()
    copy = run_reproduce(user=editor, run=folding)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded", (copy.error_code, copy.error_message)
    assert llm_server.call_count == 0 and llm_server.embedding_requests == []
    assert Step.objects.get(run=copy, node_id="recall").output == step.output
    assert Conversation.objects.values_list("summary", "summary_upto").get(pk=cid) == before

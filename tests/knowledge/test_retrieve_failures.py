"""The Retrieve node's failure policy in real runs: a failed query embedding at the scripted
server goes out of the error port as a `provider_error`, or becomes a task for a person."""

import pytest

from builder.services import flow_create
from runs.executor import InlineExecutor
from runs.models import Approval, Step
from runs.services import run_start
from runs.services.fallbacks import fallback_decide
from tests.llmserver import http_error

from .test_retrieve_node import answer_flow, ingest, run_flow

pytestmark = pytest.mark.django_db


def with_error_branch(graph: dict) -> dict:
    graph["nodes"].append(
        {"id": "sorry", "type": "output", "label": "Sorry", "config": {"name": "problem"}}
    )
    graph["edges"].append(
        {
            "id": "e_find_sorry",
            "source": "find",
            "source_port": "error",
            "target": "sorry",
            "target_port": "in",
        }
    )
    return graph


def test_failed_query_embedding_takes_the_error_branch(kb, editor, workspace, llm_server):
    ingest(kb, editor)
    llm_server.script_embeddings(http_error(400))
    run = run_flow(
        editor, workspace, with_error_branch(answer_flow("Handbook", on_failure="branch"))
    )
    assert run.status == "succeeded", (run.error_code, run.error_message)
    problem = run.result["problem"]
    assert problem["type"] == "provider_error" and problem["code"].startswith("embedding_")
    assert problem["node"] == "find" and "could not be embedded" in problem["message"]
    assert Step.objects.get(run=run, node_id="answer").status == "skipped"
    assert llm_server.call_count == 0


def test_failed_query_embedding_asks_a_person_who_types_the_chunks(
    kb, editor, workspace, llm_server
):
    ingest(kb, editor)
    llm_server.script_embeddings(http_error(400))
    graph = answer_flow("Handbook", on_failure="ask", fallback_users=[editor.username])
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Answer", graph=graph)
    run = run_start(user=editor, flow=flow, inputs=None)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "waiting", (run.error_code, run.error_message)
    task = Approval.objects.get(run=run)
    assert task.kind == "fallback" and task.payload["error"]["type"] == "provider_error"
    chunks = [{"text": "Twelve sick days.", "source": "HR", "score": 1.0, "heading": ""}]
    decided = fallback_decide(user=editor, approval_id=task.pk, action="output", output=chunks)
    InlineExecutor().advance(decided.resume)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert "[HR / ] Twelve sick days." in llm_server.requests[-1]["messages"][-1]["content"]

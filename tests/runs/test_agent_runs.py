"""The agent node in real runs: the scripted model server over HTTP, a built-in tool, a search of
a small knowledge base, a reviewer; its sub-steps as events; reproduce and re-run from it."""

import pytest
from django.urls import reverse

from builder.services import flow_create
from knowledge import services as knowledge
from knowledge.ingestion import document_ingest
from runs.executor import InlineExecutor
from runs.models import Recording, RunEvent, Step
from runs.services import run_start
from runs.services.reruns import run_reproduce, run_rerun, runs_compare
from tests.llmserver import text, tool_call
from tests.runs.support import fast_passwords, finish_inline  # noqa: F401
from workspaces.models import Role

pytestmark = pytest.mark.django_db

HANDBOOK = """# Leave

## Sick days

Staff get twelve sick days a year. A doctor's note is needed after three days in a row.

# Equipment

Laptops are replaced every three years by the IT desk.
"""

ANSWER = "Staff get 12 sick days a year: 24 over two years (handbook, Leave › Sick days)."


def agent_flow(**agent) -> dict:
    def node(node_id, type_, x, **config):
        return {
            "id": node_id,
            "type": type_,
            "label": node_id.title(),
            "position": {"x": x, "y": 0},
            "config": config,
        }

    def edge(source, target):
        return {
            "id": f"e_{source}_{target}",
            "source": source,
            "source_port": "out",
            "target": target,
            "target_port": "in",
        }

    question = {"type": "object", "properties": {"question": {"type": "string"}}}
    config = {
        "goal": "Answer from the handbook, with the arithmetic done: {{ inputs.question }}",
        "tools": ["calculator"],
        "knowledge_bases": ["Handbook"],
        "reflection": "critique",
        "max_rounds": 5,
        **agent,
    }
    return {
        "schema_version": 1,
        "nodes": [
            node(
                "ask",
                "input",
                0,
                schema=question,
                sample={"question": "How many sick days over two years?"},
            ),
            node("agent", "agent", 200, **config),
            node("result", "output", 400),
        ],
        "edges": [edge("ask", "agent"), edge("agent", "result")],
    }


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "agent-editor")


@pytest.fixture
def handbook(llm_server, editor, workspace):
    kb = knowledge.kb_create(
        user=editor,
        workspace_id=workspace.pk,
        name="Handbook",
        chunk_size=300,
        chunk_overlap=0,
        embedding_model="openai/text-embedding-3-small",
    )
    document = knowledge.document_add_text(
        user=editor, kb=kb, title="Staff handbook", text=HANDBOOK, file_format="md"
    )
    assert document_ingest(document_id=document.pk, worker="test") == "ready"
    return kb


def script_the_agent(llm_server):
    llm_server.script(
        tool_call("search_knowledge", {"query": "sick days a year"}),
        tool_call("calculator", {"expression": "12 * 2"}),
        text(ANSWER),
        tool_call("submit_verdict", {"met": True, "feedback": "Cited and computed."}),
    )


def substeps(run):
    events = RunEvent.objects.filter(run=run, kind="step.substep").order_by("seq")
    return [event.data for event in events]


@pytest.fixture
def agent_run(llm_server, handbook, editor, workspace):
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Agent", graph=agent_flow())
    script_the_agent(llm_server)
    run = finish_inline(run_start(user=editor, flow=flow, inputs=None), editor)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    return run


def test_agent_run_searches_calls_a_tool_is_reviewed_and_answers(agent_run, llm_server):
    step = Step.objects.get(run=agent_run, node_id="agent")
    assert step.output["answer"] == ANSWER and step.output["rounds"] == 3
    assert agent_run.result == step.output or ANSWER in str(agent_run.result)
    # Every model turn went over HTTP: three agent turns and the reviewer.
    assert llm_server.call_count == 4
    offered = [t["function"]["name"] for t in llm_server.requests[0]["tools"]]
    assert offered == ["calculator", "search_knowledge"]
    assert "twelve sick days" in llm_server.requests[1]["messages"][-1]["content"]
    assert llm_server.requests[2]["messages"][-1]["content"] == '{"result": 24}'
    review = llm_server.requests[3]
    assert review["tool_choice"]["function"]["name"] == "submit_verdict"
    assert "with the arithmetic done" in review["messages"][0]["content"]

    parts = substeps(agent_run)
    assert [(p["type"], p.get("tool")) for p in parts] == [
        ("tool_call", "search_knowledge"),
        ("tool_result", "search_knowledge"),
        ("tool_call", "calculator"),
        ("tool_result", "calculator"),
        ("answer", None),
        ("critique", None),
    ]
    assert all(p["step_id"] == step.pk for p in parts)
    assert parts[1]["result"]["passages"][0]["source"] == "Staff handbook"
    assert parts[3]["result"] == {"result": 24} and parts[5]["met"] is True
    # The sub-steps come before the step's own result in the log.
    kinds = list(
        RunEvent.objects.filter(run=agent_run, node_id="agent")
        .order_by("seq")
        .values_list("kind", flat=True)
    )
    assert kinds[-1] == "step.succeeded" and kinds.count("step.substep") == 6
    recorded = list(
        Recording.objects.filter(step=step).order_by("index").values_list("kind", flat=True)
    )
    assert recorded == ["llm", "retrieve", "llm", "tool", "llm", "llm"]
    assert step.tokens_in > 0 and step.model == "openai/gpt-4o-mini"


def test_agent_run_reproduces_with_zero_calls(agent_run, llm_server, editor):
    llm_server.reset()
    copy = run_reproduce(user=editor, run=agent_run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded", (copy.error_code, copy.error_message)
    assert llm_server.call_count == 0 and llm_server.embedding_requests == []
    assert runs_compare(left=agent_run, right=copy)["all_outputs_match"]
    strip = [{k: v for k, v in p.items() if k != "step_id"} for p in substeps(agent_run)]
    assert [{k: v for k, v in p.items() if k != "step_id"} for p in substeps(copy)] == strip
    assert float(copy.cost) == 0


def test_rerun_from_the_agent_step_runs_only_the_agent(agent_run, llm_server, editor):
    llm_server.reset()
    script_the_agent(llm_server)
    again = run_rerun(user=editor, run=agent_run, from_node="agent")
    InlineExecutor().advance(again.pk)
    again.refresh_from_db()
    assert again.status == "succeeded", (again.error_code, again.error_message)
    assert llm_server.call_count == 4
    assert Step.objects.get(run=again, node_id="agent").output["answer"] == ANSWER
    assert len(substeps(again)) == 6


def test_agent_over_its_rounds_takes_the_error_branch(llm_server, handbook, editor, workspace):
    graph = agent_flow(max_rounds=2, on_failure="branch", reflection="none")
    graph["nodes"].append(
        {
            "id": "sorry",
            "type": "output",
            "label": "Sorry",
            "position": {"x": 400, "y": 100},
            "config": {"name": "sorry"},
        }
    )
    graph["edges"].append(
        {
            "id": "e_err",
            "source": "agent",
            "source_port": "error",
            "target": "sorry",
            "target_port": "in",
        }
    )
    flow = flow_create(user=editor, workspace_id=workspace.pk, name="Loops", graph=graph)
    llm_server.script(
        tool_call("calculator", {"expression": "1 + 1"}),
        tool_call("calculator", {"expression": "2 + 2"}),
    )
    run = finish_inline(run_start(user=editor, flow=flow, inputs=None), editor)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    step = Step.objects.get(run=run, node_id="agent")
    assert step.status == "failed" and step.error_code == "max_rounds"
    assert step.output["type"] == "max_rounds" and step.ports == ["error"]
    assert llm_server.call_count == 2
    # The trace of a failed agent is recorded too.
    assert [p["type"] for p in substeps(run)] == ["tool_call", "tool_result"] * 2


def test_agent_stops_at_the_runs_token_budget(llm_server, handbook, editor, workspace):
    flow = flow_create(
        user=editor, workspace_id=workspace.pk, name="Budget", graph=agent_flow(max_rounds=10)
    )
    for _ in range(10):
        llm_server.script(tool_call("calculator", {"expression": "1 + 1"}))
    run = finish_inline(
        run_start(user=editor, flow=flow, inputs=None, budgets={"max_tokens": 1}), editor
    )
    assert run.status == "failed"
    step = Step.objects.get(run=run, node_id="agent")
    assert step.error_code == "budget_exceeded" and "token budget" in step.error_message
    assert llm_server.call_count == 1


def test_run_page_shows_the_agents_substeps_nested_under_its_step(agent_run, client, editor):
    client.force_login(editor)
    response = client.get(reverse("runs:detail", args=[agent_run.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    step = Step.objects.get(run=agent_run, node_id="agent")
    row = page.split(f'data-step-key="s{step.pk}"', 1)[1].split("</li>\n", 1)[0]
    for label in ("Calls search_knowledge", "Result", "Calls calculator", "Answer"):
        assert f'<span class="sb-substep-label">{label}</span>' in page
    assert "Accepted by the reviewer" in page and "Cited and computed." in page
    assert 'data-substeps aria-label="What Agent did"' in row
    state = response.context["state"]
    parts = next(s for s in state["steps"] if s["id"] == step.pk)["substeps"]
    assert [p["label"] for p in parts][-1] == "Accepted by the reviewer"
    assert all(not s["substeps"] for s in state["steps"] if s["id"] != step.pk)

"""Flows offered to a prompt as tools, on a real database: the model calls the flow, a child run
answers, the prompt carries on with its result; reproduce, validation and a worker's death."""

import json
from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.utils import timezone

from builder.models import Flow
from builder.services import flow_publish, flow_validate
from runs.executor import InlineExecutor
from runs.models import Approval, Run, RunEvent, Step
from runs.services import approval_decide, run_start, sweep
from runs.services.advancing import run_advance, run_steps, step_claim
from runs.services.reruns import run_reproduce
from tests.llmserver import text, tool_call
from workspaces.models import Membership, Role

from .support import embedded, fast_passwords, finish_inline, inline, memory_layer  # noqa: F401

TOPIC_SCHEMA = {
    "type": "object",
    "properties": {"topic": {"type": "string"}},
    "required": ["topic"],
}


def _node(node_id, type_, **config):
    return {"id": node_id, "type": type_, "label": node_id, "config": config}


def _edge(source, target, port="out"):
    return {
        "id": f"{source}.{port}->{target}",
        "source": source,
        "source_port": port,
        "target": target,
        "target_port": "in",
    }


def _graph(middle, result="{{ nodes.mid.output }}", port="out"):
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", schema=TOPIC_SCHEMA, sample={"topic": "tea"}),
            middle,
            _node("out", "output", name="answer", value=result),
        ],
        "edges": [_edge("in", "mid"), _edge("mid", "out", port=port)],
    }


def fact_graph():
    """A flow with no model: its answer is a sentence about the topic."""
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", schema=TOPIC_SCHEMA, sample={"topic": "tea"}),
            _node("out", "output", name="fact", value="{{ inputs.topic }} is brewed"),
        ],
        "edges": [_edge("in", "out")],
    }


def approval_graph():
    approval = _node("mid", "approval", show=["inputs.topic"])
    return _graph(approval, result="{{ inputs.topic }} approved", port="approved")


def prompt_with_flow_tool(flow_id, **tool):
    prompt = _node(
        "mid",
        "prompt",
        prompt="Tell me about {{ inputs.topic }}",
        flow_tools=[{"flow": flow_id, "name": "explain", **tool}],
    )
    return _graph(prompt)


@pytest.fixture
def llm(inline):  # noqa: F811
    return inline


@pytest.fixture
def owner(workspace, make_user):
    user = make_user("owner")
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def make_flow(workspace, owner):
    def make(name, graph, *, publish=True):
        flow = Flow.objects.create(workspace=workspace, name=name, graph=graph)
        if publish:
            flow_publish(flow=flow, user=owner)
        return Flow.objects.select_related("workspace").get(pk=flow.pk)

    return make


def start(flow, owner, topic="tea"):
    return run_start(user=owner, flow=flow, inputs={"topic": topic})


def _tool_messages(request):
    return [m for m in request["messages"] if m["role"] == "tool"]


def test_model_calls_a_flow_tool_and_answers_with_its_result(llm, make_flow, owner):
    llm.script(tool_call("explain", {"topic": "oolong"}), text("Oolong is brewed, it says."))
    child_flow = make_flow("Fact", fact_graph())
    parent_flow = make_flow("Asker", prompt_with_flow_tool(child_flow.pk))

    parent = finish_inline(start(parent_flow, owner), owner)

    assert parent.status == "succeeded", (parent.error_code, parent.error_message)
    assert parent.result == {"answer": "Oolong is brewed, it says."}
    child = Run.objects.get(parent_step__run=parent)
    step = Step.objects.get(run=parent, node_id="mid")
    assert child.parent_step_id == step.pk and child.trigger == "subflow" and child.depth == 1
    assert child.inputs == {"topic": "oolong"} and child.result == {"fact": "oolong is brewed"}
    # The flow's input schema is the tool's parameters.
    first, second = llm.requests
    (spec,) = first["tools"]
    assert spec["function"]["name"] == "explain"
    assert spec["function"]["parameters"]["properties"] == TOPIC_SCHEMA["properties"]
    assert spec["function"]["parameters"]["required"] == ["topic"]
    # The second turn carries the child's result as the tool's answer.
    (answer,) = _tool_messages(second)
    assert json.loads(answer["content"]) == {"fact": "oolong is brewed"}
    assert step.details["flow_tool_calls"] == [
        {"tool": "explain", "child_run_id": child.pk, "ok": True}
    ]
    assert "flow_tool" not in step.details
    kinds = list(RunEvent.objects.filter(run=parent, node_id="mid").values_list("kind", flat=True))
    assert kinds == [
        "step.started",
        "subflow.started",
        "subflow.finished",
        "step.started",
        "step.succeeded",
    ]
    assert list(step.recordings.values_list("kind", flat=True)) == ["llm", "tool", "llm"]
    assert parent.step_count == 3  # input, prompt (once, though it ran twice), output


def test_flow_tool_that_cannot_start_fails_the_step(llm, make_flow, owner):
    llm.script(tool_call("explain", {"topic": "tea"}))
    child_flow = make_flow("Fact", fact_graph())
    parent_flow = make_flow("Asker", prompt_with_flow_tool(child_flow.pk))
    child_flow.versions.update(published=False)  # it fails to start: the call is refused

    parent = finish_inline(start(parent_flow, owner), owner)

    step = Step.objects.get(run=parent, node_id="mid")
    assert step.status == "failed" and step.error_code == "subflow_not_published"


def test_child_failure_answers_the_model_with_its_error(llm, make_flow, owner):
    llm.script(tool_call("explain", {"topic": "tea"}), text("It was rejected."))
    child_flow = make_flow("Ask", approval_graph())
    parent_flow = make_flow("Asker", prompt_with_flow_tool(child_flow.pk))
    parent = start(parent_flow, owner)
    InlineExecutor().advance(parent.pk)
    child = Run.objects.get(parent_step__run=parent)
    approval_decide(user=owner, approval_id=Approval.objects.get(run=child).pk, decision="rejected")
    InlineExecutor().advance(child.pk)

    parent.refresh_from_db()
    assert parent.status == "succeeded" and parent.result == {"answer": "It was rejected."}
    (answer,) = _tool_messages(llm.requests[1])
    assert f"run #{child.pk}" in json.loads(answer["content"])["error"]


def test_reproducing_makes_no_model_calls_and_starts_no_child(llm, make_flow, owner):
    llm.script(tool_call("explain", {"topic": "oolong"}), text("Oolong is brewed."))
    child_flow = make_flow("Fact", fact_graph())
    parent_flow = make_flow("Asker", prompt_with_flow_tool(child_flow.pk))
    original = finish_inline(start(parent_flow, owner), owner)
    assert original.status == "succeeded" and llm.call_count == 2
    llm.reset()
    runs_before = Run.objects.count()

    copy = run_reproduce(user=owner, run=original)
    InlineExecutor().advance(copy.pk)

    copy.refresh_from_db()
    assert copy.status == "succeeded" and copy.result == original.result
    assert llm.call_count == 0
    assert Run.objects.count() == runs_before + 1
    assert not Run.objects.filter(parent_step__run=copy).exists()


def test_worker_killed_while_the_child_runs_loses_nothing(llm, make_flow, owner):
    """The parent's step waits for its child with no worker; the worker that finishes the child
    dies before kicking the parent, and the worker that takes the resumed step dies before
    answering. Sweeps bring it back: one child run, every model call made once."""
    llm.script(tool_call("explain", {"topic": "tea"}), text("Approved, it says."))
    child_flow = make_flow("Ask", approval_graph())
    parent_flow = make_flow("Asker", prompt_with_flow_tool(child_flow.pk))
    parent = start(parent_flow, owner)
    InlineExecutor().advance(parent.pk)
    parent.refresh_from_db()
    step = Step.objects.get(run=parent, node_id="mid")
    assert parent.status == "waiting" and step.status == "waiting"
    assert step.details["flow_tool"]["pending"][0]["name"] == "explain"
    child = Run.objects.get(parent_step__run=parent)
    approval_decide(user=owner, approval_id=Approval.objects.get(run=child).pk, decision="approved")
    lost: list[int] = []
    run_steps(
        run_advance(run_id=child.pk, worker="dying"),
        worker="dying",
        hold=lambda step_id: nullcontext(),
        kick=lambda ids: None,
        kick_runs=lost.extend,  # never delivered
    )
    assert lost == [parent.pk]
    step.refresh_from_db()
    assert step.status == "queued" and step.details["flow_tool"]["result"]["ok"] is True
    # A second worker claims the resumed step and dies before it records anything.
    assert step_claim(run_id=parent.pk, step_id=step.pk, worker="dying-too") is not None

    later = timezone.now() + timedelta(minutes=10)
    for _ in range(3):
        for run_id in sweep(now=later):
            InlineExecutor().advance(run_id, redispatch=True)
        parent.refresh_from_db()
        if parent.is_finished:
            break

    assert parent.status == "succeeded" and parent.result == {"answer": "Approved, it says."}
    assert Run.objects.filter(parent_step__run=parent).count() == 1
    attempts = Step.objects.filter(run=parent, node_id="mid").order_by("attempt")
    assert [(s.attempt, s.status) for s in attempts] == [(0, "failed"), (1, "succeeded")]
    assert llm.call_count == 2, llm.requests
    answers = _tool_messages(llm.requests[1])
    assert len(answers) == 1, llm.requests[1]["messages"]
    assert json.loads(answers[0]["content"]) == {"answer": "tea approved"}


def test_validation_follows_flow_tools_into_cycles(make_flow, owner):
    caller = make_flow("Caller", fact_graph())
    callee = make_flow("Callee", prompt_with_flow_tool(caller.pk))
    graph = prompt_with_flow_tool(callee.pk)

    errors = flow_validate(graph=graph, workspace_id=caller.workspace_id, flow_id=caller.pk)
    codes = [e.code for e in errors]

    assert "graph.E043" in codes


def test_validation_reports_an_unknown_flow_tool(make_flow, owner):
    flow = make_flow("Caller", prompt_with_flow_tool(999_999), publish=False)

    errors = flow_validate(graph=flow.graph, workspace_id=flow.workspace_id, flow_id=flow.pk)

    assert [(e.code, e.field) for e in errors if e.code == "graph.E040"] == [
        ("graph.E040", "flow_tools")
    ]


def agent_with_flow_tool(flow_id):
    agent = _node(
        "mid",
        "agent",
        goal="Find out about {{ inputs.topic }}",
        flow_tools=[{"flow": flow_id, "name": "explain"}],
    )
    return _graph(agent, result="{{ nodes.mid.output.answer }}")


def test_agent_calls_a_flow_tool_and_its_substeps_link_the_child(llm, make_flow, owner):
    llm.script(
        tool_call("explain", {"topic": "oolong"}),
        text("Oolong is brewed."),
    )
    child_flow = make_flow("Fact", fact_graph())
    parent_flow = make_flow("Agent", agent_with_flow_tool(child_flow.pk))

    parent = finish_inline(start(parent_flow, owner), owner)

    assert parent.status == "succeeded", (parent.error_code, parent.error_message)
    assert parent.result == {"answer": "Oolong is brewed."}
    child = Run.objects.get(parent_step__run=parent)
    assert child.result == {"fact": "oolong is brewed"}
    (answer,) = _tool_messages(llm.requests[1])
    assert json.loads(answer["content"]) == {"fact": "oolong is brewed"}
    substeps = [
        e.data for e in RunEvent.objects.filter(run=parent, kind="step.substep").order_by("seq")
    ]
    assert [(s["index"], s["type"]) for s in substeps] == [
        (0, "tool_call"),
        (1, "tool_result"),
        (2, "answer"),
    ]
    assert substeps[0]["flow"] == child_flow.pk and substeps[0]["tool"] == "explain"
    assert substeps[1]["child_run_id"] == child.pk and substeps[1]["ok"] is True
    step = Step.objects.get(run=parent, node_id="mid")
    assert [s["type"] for s in step.output["trace"]] == ["tool_call", "tool_result", "answer"]

    llm.reset()
    runs_before = Run.objects.count()
    copy = run_reproduce(user=owner, run=parent)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded" and copy.result == parent.result
    assert llm.call_count == 0 and Run.objects.count() == runs_before + 1


def test_run_page_links_the_agents_flow_call_to_its_child_run(llm, make_flow, owner, client):
    llm.script(tool_call("explain", {"topic": "oolong"}), text("Oolong is brewed."))
    child_flow = make_flow("Fact", fact_graph())
    parent_flow = make_flow("Agent", agent_with_flow_tool(child_flow.pk))
    parent = finish_inline(start(parent_flow, owner), owner)
    child = Run.objects.get(parent_step__run=parent)

    client.force_login(owner)
    page = client.get(f"/runs/{parent.pk}/").content.decode()

    assert f'class="sb-substep-run" href="/runs/{child.pk}/"' in page
    assert "Calls explain" in page

"""Flows offered to a prompt as tools, without a database: the tool spec from the flow's input
schema, the wait a call asks for, and the loop resumed from its saved state."""

import json

import pytest
from pydantic import ValidationError

from runs.engine.graph import compile_graph
from runs.engine.nodes import NODE_TYPES
from runs.engine.nodes.flow_tools import FlowTool, tool_spec
from runs.engine.nodes.prompt import PromptConfig
from runs.engine.runner import execute_step
from runs.engine.scheduler import RunState, StepState

from .fakes import FakeLlm, FakeResponse, FakeToolCall, FakeTools
from .graphs import edge, graph, node, prompt

SCHEMA = {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}


class FlowAwareTools(FakeTools):
    """Tools that also know the workspace's flows (what `runs.services.ports.Tools` answers)."""

    def __init__(self, **funcs):
        super().__init__(**funcs)
        self.looked_up: list[tuple[int, int | None]] = []

    def flow_inputs(self, flow_id, version):
        self.looked_up.append((flow_id, version))
        return {
            "name": "Explain",
            "description": "Explains a topic.",
            "version": 3,
            "schema": SCHEMA,
        }


def _doc(**config):
    return graph(
        [node("in", "input"), prompt("ask", **config), node("out", "output", value="x")],
        [edge("in", "ask"), edge("ask", "out")],
    )


def _step(doc, llm, tools, resume=None):
    compiled = compile_graph(doc)
    state = RunState(compiled, [StepState("in", status="succeeded", output={}, ports=["out"])])
    return execute_step(
        compiled, state, "ask", run_inputs={"question": "tea?"}, llm=llm, tools=tools, resume=resume
    )


def test_flow_tool_spec_is_the_flows_input_schema():
    tool = FlowTool(flow=7, name="explain")
    spec = tool_spec(tool, {"name": "Explain", "description": "", "schema": SCHEMA})
    assert spec["function"]["name"] == "explain"
    assert spec["function"]["parameters"] == SCHEMA
    assert spec["function"]["description"] == 'Run the flow "Explain".'
    unnamed = tool_spec(FlowTool(flow=7, description="Look it up"), {"schema": {}})
    assert unnamed["function"]["name"] == "flow_7"
    assert unnamed["function"]["parameters"] == {"type": "object", "properties": {}}
    assert unnamed["function"]["description"] == "Look it up"


@pytest.mark.parametrize(
    "value", [{"flow": 0}, {"flow": 1, "version": 0}, {"flow": 1, "name": "has space"}]
)
def test_flow_tool_config_refuses_bad_values(value):
    with pytest.raises(ValidationError):
        PromptConfig.model_validate({"prompt": "x", "flow_tools": [value]})


def test_prompt_declares_the_flows_it_may_call():
    config = PromptConfig.model_validate(
        {"prompt": "x", "flow_tools": [{"flow": 4}, {"flow": 5, "version": 2}]}
    )
    assert NODE_TYPES["prompt"].called_flows(config) == [
        ("flow_tools", 4, None),
        ("flow_tools", 5, 2),
    ]


def test_calling_a_flow_tool_waits_with_the_loop_state_and_resumes_with_its_result():
    turns = iter(
        [
            FakeResponse(
                content="Let me check.",
                tool_calls=[
                    FakeToolCall("c1", "calculator", {"expression": "1+1"}),
                    FakeToolCall("c2", "explain", {"topic": "tea"}),
                ],
            ),
            FakeResponse(content="Tea is brewed; 1+1 is 2."),
        ]
    )
    llm = FakeLlm(lambda messages, kwargs: next(turns))
    tools = FlowAwareTools(calculator=lambda args: 2)
    doc = _doc(tools=["calculator"], flow_tools=[{"flow": 7, "name": "explain"}])

    waiting = _step(doc, llm, tools)

    assert waiting.status == "waiting"
    assert waiting.wait == {
        "kind": "flow_tool",
        "flow": 7,
        "version": None,
        "inputs": {"topic": "tea"},
        "tool": "explain",
        "tool_call_id": "c2",
    }
    offered = {t["function"]["name"]: t for t in llm.calls[0]["tools"]}
    assert offered["explain"]["function"]["parameters"] == SCHEMA
    state = waiting.details["flow_tool"]
    assert [c["id"] for c in state["pending"]] == ["c2"] and state["round"] == 0
    assert tools.calls == [("calculator", {"expression": "1+1"})]  # answered before the wait
    assert len(llm.calls) == 1

    # The child run finished: the step runs again from the saved state, no call repeated.
    result = {"ok": True, "output": {"fact": "brewed"}, "child_run_id": 41}
    state = json.loads(json.dumps({**state, "result": result}))
    resumed = _step(doc, llm, tools, resume=state)

    assert resumed.status == "succeeded" and resumed.output == "Tea is brewed; 1+1 is 2."
    assert len(llm.calls) == 2 and len(tools.calls) == 1
    sent = llm.calls[1]["messages"]
    answers = {m["tool_call_id"]: json.loads(m["content"]) for m in sent if m["role"] == "tool"}
    assert answers == {"c1": 2, "c2": {"fact": "brewed"}}
    assert resumed.details["flow_tool_calls"] == [
        {"tool": "explain", "child_run_id": 41, "ok": True}
    ]
    # The child's answer is recorded as the tool's, for a reproduction to replay.
    assert [r["kind"] for r in resumed.recordings] == ["tool", "llm"]
    assert resumed.recordings[0]["request"] == {"name": "explain", "arguments": {"topic": "tea"}}


def test_a_failed_child_is_an_error_the_model_sees():
    llm = FakeLlm(lambda messages, kwargs: "Sorry, it failed.")
    state = {
        "messages": [{"role": "user", "content": "q"}],
        "round": 0,
        "pending": [{"id": "c1", "name": "explain", "arguments": {"topic": "tea"}}],
        "call": {"model": "fake/model", "max_tokens": 10},
        "tools": None,
        "details": {},
        "result": {
            "ok": False,
            "code": "rejected",
            "message": "Run #9 rejected.",
            "child_run_id": 9,
        },
    }
    doc = _doc(flow_tools=[{"flow": 7, "name": "explain"}])

    resumed = _step(doc, llm, FlowAwareTools(), resume=state)

    assert resumed.status == "succeeded"
    tool_message = llm.calls[0]["messages"][-1]
    assert json.loads(tool_message["content"]) == {"error": "Run #9 rejected."}
    assert resumed.recordings[0]["response"] == {
        "error": {"code": "rejected", "message": "Run #9 rejected."}
    }


def test_two_flow_calls_in_one_turn_wait_one_after_the_other():
    turns = iter(
        [
            FakeResponse(
                content=None,
                tool_calls=[
                    FakeToolCall("c1", "explain", {"topic": "tea"}),
                    FakeToolCall("c2", "explain", {"topic": "coffee"}),
                ],
            ),
            FakeResponse(content="Both."),
        ]
    )
    llm = FakeLlm(lambda messages, kwargs: next(turns))
    tools = FlowAwareTools()
    doc = _doc(flow_tools=[{"flow": 7, "name": "explain"}])

    first = _step(doc, llm, tools)
    assert first.wait["tool_call_id"] == "c1"
    state = {**first.details["flow_tool"], "result": {"ok": True, "output": 1, "child_run_id": 1}}
    second = _step(doc, llm, tools, resume=json.loads(json.dumps(state)))
    assert second.status == "waiting" and second.wait["inputs"] == {"topic": "coffee"}
    state = {**second.details["flow_tool"], "result": {"ok": True, "output": 2, "child_run_id": 2}}
    third = _step(doc, llm, tools, resume=json.loads(json.dumps(state)))

    assert third.status == "succeeded" and third.output == "Both." and len(llm.calls) == 2
    assert [c["child_run_id"] for c in third.details["flow_tool_calls"]] == [1, 2]


def test_agent_waits_for_a_flow_tool_and_resumes_its_loop_and_substeps():
    turns = iter(
        [
            FakeResponse(
                content="Looking.", tool_calls=[FakeToolCall("c1", "explain", {"topic": "t"})]
            ),
            FakeResponse(content="It is brewed."),
        ]
    )
    llm = FakeLlm(lambda messages, kwargs: next(turns))
    doc = graph(
        [
            node("in", "input"),
            node("ask", "agent", goal="Learn", flow_tools=[{"flow": 7, "name": "explain"}]),
            node("out", "output", value="x"),
        ],
        [edge("in", "ask"), edge("ask", "out")],
    )
    assert NODE_TYPES["agent"].called_flows(compile_graph(doc).nodes["ask"].config) == [
        ("flow_tools", 7, None)
    ]

    waiting = _step(doc, llm, FlowAwareTools())
    assert waiting.status == "waiting" and waiting.wait["inputs"] == {"topic": "t"}
    assert [s["type"] for s in waiting.substeps] == ["thought", "tool_call"]
    assert waiting.substeps[1]["flow"] == 7

    result = {"ok": True, "output": {"fact": "brewed"}, "child_run_id": 5}
    state = json.loads(json.dumps({**waiting.details["flow_tool"], "result": result}))
    resumed = _step(doc, llm, FlowAwareTools(), resume=state)

    assert resumed.status == "succeeded" and resumed.output["answer"] == "It is brewed."
    kinds = [s["type"] for s in resumed.substeps]
    assert kinds == ["thought", "tool_call", "tool_result", "answer"]
    assert [s["index"] for s in resumed.substeps] == [0, 1, 2, 3]
    assert resumed.substeps[2]["child_run_id"] == 5 and resumed.output["rounds"] == 2

"""The agent node without a database: it stops when its goal is judged met, at max rounds and at
the run's budgets; reflection rejects then accepts; every part of its work is a sub-step."""

import pytest

from builder.graph import validate_graph
from runs.engine.memory import MemoryRun
from runs.engine.scheduler import Budgets

from .fakes import FakeLlm, FakeResponse, FakeToolCall, FakeTools
from .graphs import edge, graph, node


def agent_graph(**config):
    config.setdefault("goal", "Answer {{ inputs.question }}")
    nodes = [
        node("in", "input"),
        node("agent", "agent", **config),
        node("out", "output"),
        node("err", "output", name="problem"),
    ]
    edges = [edge("in", "agent"), edge("agent", "out"), edge("agent", "err", "error")]
    return graph(nodes, edges)


def run_agent(llm, fake_tools=None, budgets=None, retrieval=None, **config):
    document = agent_graph(**config)
    assert validate_graph(document) == [], validate_graph(document)
    run = MemoryRun(
        document,
        {"question": "what is the weather in Oslo?"},
        llm=llm,
        tools=fake_tools or FakeTools(),
        budgets=budgets,
        retrieval=retrieval,
    )
    run.run()
    return run


def step(run, node_id="agent"):
    return next(s for s in run.steps if s.node_id == node_id)


def substeps(run):
    return [e.data for e in run.events if e.kind == "step.substep"]


def scripted(*replies):
    """A model answering `replies` in order (a reviewer's call included)."""
    queue = list(replies)
    return FakeLlm(lambda messages, kwargs: queue.pop(0))


def weather_call(city="Oslo", call_id="c1"):
    return FakeResponse(
        content="I should look the weather up.",
        tool_calls=[FakeToolCall(call_id, "http_request", {"city": city})],
    )


def verdict(met, feedback=""):
    return FakeResponse(
        content=None,
        tool_calls=[FakeToolCall("v", "submit_verdict", {"met": met, "feedback": feedback})],
    )


def test_agent_uses_a_tool_then_answers_when_the_goal_is_met():
    tools = FakeTools(http_request=lambda args: {"city": args["city"], "sky": "rain"})
    llm = scripted(weather_call(), "It rains in Oslo.")
    run = run_agent(llm, tools, tools=["http_request"])
    assert run.status == "succeeded"
    output = step(run).output
    assert output["answer"] == "It rains in Oslo."
    assert output["rounds"] == 2
    assert tools.calls == [("http_request", {"city": "Oslo"})]
    kinds = [s["type"] for s in substeps(run)]
    assert kinds == ["thought", "tool_call", "tool_result", "answer"]
    result = substeps(run)[2]
    assert result["tool"] == "http_request" and result["ok"] and result["result"]["sky"] == "rain"
    assert [s["index"] for s in output["trace"]] == [0, 1, 2, 3]
    # The model saw the tool's result on its second turn.
    second = llm.calls[1]["messages"]
    assert second[-1]["role"] == "tool" and "rain" in second[-1]["content"]
    assert "Answer what is the weather in Oslo?" in second[0]["content"]


def test_agent_stops_at_max_rounds_with_a_typed_error():
    tools = FakeTools(http_request=lambda args: {"sky": "rain"})
    llm = FakeLlm(lambda messages, kwargs: weather_call())
    run = run_agent(llm, tools, tools=["http_request"], max_rounds=3, on_failure="branch")
    assert run.status == "succeeded"  # the error branch took it
    agent = step(run)
    assert agent.status == "failed" and agent.error_code == "max_rounds"
    assert agent.ports == ["error"]
    assert agent.output["type"] == "max_rounds"
    assert len(llm.calls) == 3 and len(tools.calls) == 3
    assert [s["round"] for s in substeps(run) if s["type"] == "tool_call"] == [1, 2, 3]


def test_agent_stops_at_the_runs_token_budget():
    tools = FakeTools(http_request=lambda args: {"sky": "rain"})
    # Each call costs 15 tokens (FakeResponse): a budget of 40 allows three calls, not four.
    llm = FakeLlm(lambda messages, kwargs: weather_call())
    run = run_agent(
        llm, tools, budgets=Budgets(max_tokens=40), tools=["http_request"], max_rounds=10
    )
    assert run.status == "failed"
    agent = step(run)
    assert agent.error_code == "budget_exceeded"
    assert "token budget" in agent.error_message
    assert len(llm.calls) == 3


def test_agent_stops_at_the_runs_cost_budget_down_the_error_port():
    llm = FakeLlm(lambda messages, kwargs: weather_call())
    tools = FakeTools(http_request=lambda args: {"sky": "rain"})
    run = run_agent(
        llm,
        tools,
        budgets=Budgets(max_cost=0.0025),
        tools=["http_request"],
        max_rounds=10,
        on_failure="branch",
    )
    agent = step(run)
    assert agent.output["type"] == "budget" and agent.output["code"] == "budget_exceeded"
    assert len(llm.calls) == 3  # 0.001 each: the third takes it past 0.0025


def test_reflection_rejects_then_accepts():
    llm = scripted(
        "It is raining.",
        verdict(False, "Say which city."),
        "It is raining in Oslo.",
        verdict(True, "Meets the goal."),
    )
    run = run_agent(llm, reflection="critique", criteria="Name the city.")
    assert run.status == "succeeded"
    output = step(run).output
    assert output["answer"] == "It is raining in Oslo." and output["rounds"] == 2
    critiques = [s for s in substeps(run) if s["type"] == "critique"]
    assert [(c["met"], c["feedback"]) for c in critiques] == [
        (False, "Say which city."),
        (True, "Meets the goal."),
    ]
    # The reviewer is told the goal; the agent is told the reviewer's feedback.
    review = llm.calls[1]
    assert "Answer what is the weather in Oslo?" in review["messages"][0]["content"]
    assert "Name the city." in review["messages"][0]["content"]
    assert review["tool_choice"]["function"]["name"] == "submit_verdict"
    assert "Say which city." in llm.calls[2]["messages"][-1]["content"]


def test_reflection_that_never_accepts_ends_at_max_rounds():
    llm = FakeLlm(
        lambda messages, kwargs: verdict(False, "No.") if kwargs.get("tool_choice") else "Maybe."
    )
    run = run_agent(llm, reflection="critique", max_rounds=2)
    assert step(run).error_code == "max_rounds"
    assert len(llm.calls) == 4  # two answers, two critiques


def test_reflection_by_rules_sends_the_failed_check_back():
    llm = scripted("short", "A full answer about the weather in Oslo.")
    run = run_agent(
        llm,
        reflection="rules",
        rules=[{"kind": "contains", "value": "Oslo", "message": "Name the city."}],
    )
    output = step(run).output
    assert output["answer"] == "A full answer about the weather in Oslo."
    critiques = [s for s in substeps(run) if s["type"] == "critique"]
    assert [(c["met"], c["by"]) for c in critiques] == [(False, "rules"), (True, "rules")]
    assert "Name the city." in llm.calls[1]["messages"][-1]["content"]


def test_json_answer_is_checked_against_its_schema_and_repaired():
    schema = {"type": "object", "properties": {"sky": {"type": "string"}}, "required": ["sky"]}
    llm = scripted('{"weather": "rain"}', '{"sky": "rain"}')
    run = run_agent(llm, output_format="json", json_schema=schema)
    output = step(run).output
    assert output["answer"] == {"sky": "rain"} and output["rounds"] == 2
    assert [s["by"] for s in substeps(run) if s["type"] == "critique"] == ["schema"]


def test_a_failing_tool_is_shown_to_the_model_not_fatal():
    def broken(args):
        from .fakes import FakeToolError

        raise FakeToolError("tool_failed", "The weather service is down.")

    llm = scripted(weather_call(), "I could not find out.")
    run = run_agent(llm, FakeTools(http_request=broken), tools=["http_request"])
    assert step(run).output["answer"] == "I could not find out."
    result = next(s for s in substeps(run) if s["type"] == "tool_result")
    assert result["ok"] is False and "down" in result["result"]["error"]


class Knowledge:
    def __init__(self):
        self.requests = []

    def search(self, **request):
        self.requests.append(request)
        chunk = {"text": "Oslo is rainy in autumn.", "source": "guide.md", "score": 0.9}
        return {"chunks": [chunk], "usage": {"model": "", "tokens": 3, "cost": 0.0}}


def test_agent_searches_its_knowledge_bases_as_a_tool():
    knowledge = Knowledge()
    llm = scripted(
        FakeResponse(
            content=None,
            tool_calls=[FakeToolCall("k1", "search_knowledge", {"query": "Oslo weather"})],
        ),
        "Rainy, says the guide.",
    )
    run = run_agent(llm, retrieval=knowledge, knowledge_bases=["Guide"], top_k=2)
    assert step(run).output["answer"] == "Rainy, says the guide."
    assert knowledge.requests[0]["knowledge_bases"] == ["Guide"]
    assert knowledge.requests[0]["top_k"] == 2
    tools = llm.calls[0]["tools"]
    assert [t["function"]["name"] for t in tools] == ["search_knowledge"]
    assert "guide.md" in llm.calls[1]["messages"][-1]["content"]


def test_a_tool_the_agent_was_not_given_is_refused_to_the_model():
    tools = FakeTools(http_request=lambda args: {"sky": "rain"})
    llm = scripted(weather_call(), "Fine.")
    run = run_agent(llm, tools)
    assert tools.calls == []
    result = next(s for s in substeps(run) if s["type"] == "tool_result")
    assert result["ok"] is False


@pytest.mark.parametrize("policy", ["ask"])
def test_agent_failure_can_ask_a_person(policy):
    llm = FakeLlm(lambda messages, kwargs: weather_call())
    tools = FakeTools(http_request=lambda args: {"sky": "rain"})
    run = run_agent(llm, tools, tools=["http_request"], max_rounds=1, on_failure=policy)
    assert run.status == "waiting"
    assert run.waits["agent"]["kind"] == "fallback"
    run.resolve("agent", "output", output={"answer": "Rain, typed by a person."})
    run.run()
    assert run.status == "succeeded"
    assert step(run).output["answer"] == "Rain, typed by a person."

"""Failure handling without a database: the typed error on the error port for each kind of
failure, the on-failure policies (fail, branch, ask a person) and settling an asked step."""

import pytest

from builder.graph import validate_graph
from runs.engine.failures import TypedOutputInvalid
from runs.engine.memory import MemoryRun
from runs.engine.nodes import NODE_TYPES

from .fakes import FakeLlm, FakeLlmError, FakeResponse, FakeToolError, FakeTools
from .graphs import edge, graph, node, prompt


def run_graph(document, llm=None, tools=None, validate=True):
    if validate:
        assert validate_graph(document) == [], validate_graph(document)
    run = MemoryRun(
        document, {"question": "why?"}, llm=llm or FakeLlm(), tools=tools or FakeTools()
    )
    run.run()
    return run


def branched(failing: dict) -> dict:
    """A failing node with its error port going to an output of its own."""
    return graph(
        [
            node("in", "input"),
            failing,
            node("out", "output"),
            node("err", "output", name="problem"),
        ],
        [
            edge("in", failing["id"]),
            edge(failing["id"], "out"),
            edge(failing["id"], "err", "error"),
        ],
    )


def llm_error(code):
    return FakeLlm(lambda m, k: FakeLlmError(code, f"it went wrong: {code}"))


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("refusal", "refusal"),
        ("truncated", "truncated"),
        ("malformed_tool_call", "invalid_json"),
        ("server_error", "provider_error"),
        ("rate_limited", "provider_error"),
        ("unknown_model", "provider_error"),
        ("timeout", "timeout"),
    ],
)
def test_prompt_error_port_carries_the_typed_error(code, kind):
    run = run_graph(branched(prompt("p", on_failure="branch")), llm=llm_error(code))
    assert run.status == "succeeded"
    assert run.outcome.result["problem"] == {
        "type": kind,
        "code": code,
        "message": f"it went wrong: {code}",
        "node": "p",
        "attempts": 1,
    }
    statuses = {s.node_id: s.status for s in run.steps}
    assert statuses["p"] == "failed" and statuses["out"] == "skipped"


def test_prompt_invalid_json_twice_is_an_invalid_json_error():
    doc = branched(prompt("p", output_format="json", on_failure="branch"))
    run = run_graph(doc, llm=FakeLlm(lambda m, k: "not json"))
    problem = run.outcome.result["problem"]
    assert problem["type"] == "invalid_json" and problem["code"] == "invalid_json"
    assert "not valid JSON" in problem["message"]


def test_error_attempts_count_the_model_calls_made():
    attempts = [{"model": "a", "error": "server_error"}, {"model": "b", "error": "server_error"}]

    def reply(messages, kwargs):
        error = FakeLlmError("server_error", "down")
        error.attempts = attempts
        return error

    run = run_graph(branched(prompt("p", on_failure="branch")), llm=FakeLlm(reply))
    assert run.outcome.result["problem"]["attempts"] == 2


def test_tool_error_is_a_tool_error_and_a_template_error_is_typed_too():
    def boom(args):
        raise FakeToolError("http_error", "The site did not answer")

    tool = node("t", "tool", tool="lookup", arguments={"q": "{{ inputs.question }}"})
    run = run_graph(branched(tool), tools=FakeTools(lookup=boom))
    assert run.outcome.result["problem"]["type"] == "tool_error"
    assert run.outcome.result["problem"]["code"] == "http_error"

    # Validation refuses this template; a version saved before that rule still runs into it.
    bad = prompt("p", "{{ inputs.question.missing.deeper }}", on_failure="branch")
    run = run_graph(branched(bad), validate=False)
    assert run.outcome.result["problem"]["type"] == "template_error"


def test_llm_router_and_judge_take_their_error_ports():
    router = node(
        "route",
        "router",
        mode="llm",
        prompt="{{ inputs.question }}",
        routes=[{"name": "billing"}],
        on_failure="branch",
    )
    doc = graph(
        [node("in", "input"), router, node("out", "output"), node("err", "output", name="problem")],
        [
            edge("in", "route"),
            edge("route", "out", "billing"),
            edge("route", "out", "otherwise"),
            edge("route", "err", "error"),
        ],
    )
    run = run_graph(doc, llm=llm_error("refusal"))
    assert run.outcome.result["problem"]["node"] == "route"
    assert run.outcome.result["problem"]["type"] == "refusal"

    judge = node("judge", "evaluator", mode="llm", criteria="Is it kind?", on_failure="branch")
    doc = graph(
        [node("in", "input"), judge, node("out", "output"), node("err", "output", name="problem")],
        [edge("in", "judge"), edge("judge", "out", "pass"), edge("judge", "err", "error")],
    )
    # The judge answers without the score tool call.
    run = run_graph(doc, llm=FakeLlm(lambda m, k: FakeResponse(content="fine")))
    assert run.outcome.result["problem"]["code"] == "judge_no_score"
    assert run.outcome.result["problem"]["type"] == "invalid_json"


def test_fail_policy_without_an_error_edge_fails_the_run():
    doc = graph(
        [node("in", "input"), prompt("p"), node("out", "output")],
        [edge("in", "p"), edge("p", "out")],
    )
    run = run_graph(doc, llm=llm_error("refusal"))
    assert run.status == "failed" and run.outcome.error_code == "refusal"
    assert run.outcome.node_id == "p"


def test_error_branch_is_not_taken_on_success_and_templates_see_the_error():
    doc = graph(
        [
            node("in", "input"),
            prompt("p", on_failure="branch"),
            prompt("explain", "Sorry: {{ nodes.p.output.message }} ({{ nodes.p.output.type }})"),
            node("out", "output"),
        ],
        [edge("in", "p"), edge("p", "out"), edge("p", "explain", "error"), edge("explain", "out")],
    )
    run = run_graph(doc, llm=FakeLlm(lambda m, k: "fine"))
    assert {s.node_id: s.status for s in run.steps}["explain"] == "skipped"
    assert run.outcome.result == {"result": "fine"}

    seen = []

    def reply(messages, kwargs):
        text = messages[-1]["content"]
        seen.append(text)
        return FakeLlmError("refusal", "no") if text.startswith("Answer") else "handled"

    run = run_graph(doc, llm=FakeLlm(reply))
    assert run.status == "succeeded"
    assert seen[-1] == "Sorry: no (refusal)"


def ask_graph(**config):
    return graph(
        [
            node("in", "input"),
            prompt("p", on_failure="ask", fallback_users=["ann"], **config),
            node("out", "output"),
        ],
        [edge("in", "p"), edge("p", "out")],
    )


def test_ask_policy_pauses_the_run_with_inputs_and_error_for_a_person():
    doc = ask_graph(fallback_instructions="Write it for {{ inputs.question }}")
    run = run_graph(doc, llm=llm_error("refusal"))
    assert run.status == "waiting"
    wait = run.waits["p"]
    assert wait["kind"] == "fallback" and wait["users"] == ["ann"]
    assert wait["instructions"] == "Write it for why?"
    assert wait["payload"]["error"]["type"] == "refusal"
    assert wait["payload"]["inputs"]["prompt"] == "Answer why?"
    assert wait["output_schema"] == {"type": "string"}


def test_ask_person_types_the_output_and_the_run_completes():
    llm = llm_error("server_error")
    run = run_graph(ask_graph(), llm=llm)
    run.resolve("p", "output", output="typed by a person")
    assert run.run() == "succeeded"
    assert run.outcome.result == {"result": "typed by a person"}
    assert len(llm.calls) == 1


def test_ask_typed_output_is_checked_against_the_output_schema():
    schema = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}}
    run = run_graph(ask_graph(output_format="json", json_schema=schema), llm=llm_error("refusal"))
    with pytest.raises(TypedOutputInvalid) as caught:
        run.resolve("p", "output", output={"items": "not a list"})
    assert caught.value.problems == ["items: 'not a list' is not of type 'array'"]
    assert run.waits["p"]["kind"] == "fallback"  # still waiting: nothing was lost
    run.resolve("p", "output", output={"items": ["eggs"]})
    assert run.run() == "succeeded"
    assert run.outcome.result == {"result": {"items": ["eggs"]}}


def test_ask_retry_with_another_model_runs_the_step_again():
    def reply(messages, kwargs):
        if kwargs["model"] == "openai/other":
            return "from the other model"
        return FakeLlmError("unknown_model", "no such model")

    llm = FakeLlm(reply)
    run = run_graph(ask_graph(model="openai/first"), llm=llm)
    run.resolve("p", "retry", model="openai/other")
    assert run.run() == "succeeded"
    assert run.outcome.result == {"result": "from the other model"}
    assert [c["model"] for c in llm.calls] == ["openai/first", "openai/other"]
    attempts = [(s.attempt, s.status) for s in run.steps if s.node_id == "p"]
    assert attempts == [(0, "failed"), (1, "succeeded")]


def test_ask_retry_that_fails_again_asks_again_and_fail_ends_the_run():
    run = run_graph(ask_graph(), llm=llm_error("refusal"))
    run.resolve("p", "retry")
    assert run.waits["p"]["kind"] == "fallback"
    run.resolve("p", "fail")
    assert run.run() == "failed"
    assert run.outcome.error_code == "refusal"


def test_ask_person_fails_the_step_down_its_error_branch_when_drawn():
    doc = graph(
        [
            node("in", "input"),
            prompt("p", on_failure="ask"),
            node("out", "output"),
            node("err", "output", name="problem"),
        ],
        [edge("in", "p"), edge("p", "out"), edge("p", "err", "error")],
    )
    run = run_graph(doc, llm=llm_error("timeout"))
    assert run.status == "waiting"
    run.resolve("p", "fail")
    assert run.run() == "succeeded"
    assert run.outcome.result["problem"]["type"] == "timeout"


def test_ask_typed_route_for_an_llm_router_takes_that_route():
    router = node(
        "route",
        "router",
        mode="llm",
        prompt="{{ inputs.question }}",
        routes=[{"name": "billing"}],
        on_failure="ask",
    )
    doc = graph(
        [node("in", "input"), router, node("a", "output", name="a"), node("b", "output", name="b")],
        [edge("in", "route"), edge("route", "a", "billing"), edge("route", "b", "otherwise")],
    )
    run = run_graph(doc, llm=llm_error("refusal"))
    with pytest.raises(TypedOutputInvalid):
        run.resolve("route", "output", output={"route": "nowhere"})
    run.resolve("route", "output", output={"route": "billing", "reason": "a person said so"})
    assert run.run() == "succeeded"
    assert set(run.outcome.result) == {"a"}


def test_every_type_that_can_fail_declares_an_error_port_and_a_policy():
    for node_type in NODE_TYPES.values():
        fields = node_type.Config.model_fields
        if node_type.error_port is not None:
            assert {"on_failure", "fallback_users", "fallback_groups"} <= set(fields)
            assert node_type.error_port.name == "error" and not node_type.error_port.required
        else:
            assert "on_failure" not in fields
    assert {t for t, n in NODE_TYPES.items() if n.error_port} >= {
        "prompt",
        "tool",
        "router",
        "evaluator",
    }


def test_rules_mode_router_has_no_error_port():
    router = NODE_TYPES["router"]
    rules = router.Config.model_validate({"routes": [{"name": "a"}]})
    llm = router.Config.model_validate({"mode": "llm", "prompt": "x", "routes": [{"name": "a"}]})
    assert "error" not in router.output_ports(rules)
    assert router.output_ports(llm) == ["a", "otherwise", "error"]
    assert "error" not in router.success_ports(llm)

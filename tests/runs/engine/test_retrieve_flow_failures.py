"""The failure policy of the Retrieve and Sub-flow nodes without a database: the typed error on
the error port (an embedding failure, a timeout; a failed child run, a too deep nesting), the
error branch, and asking a person."""

import pytest

from builder.graph import validate_graph
from runs.engine.failures import TypedOutputInvalid
from runs.engine.graph import compile_graph
from runs.engine.memory import MemoryRun
from runs.engine.nodes import NODE_TYPES
from runs.engine.runner import failed_after_run
from runs.engine.scheduler import RunState

from .fakes import FakeLlm, FakeTools
from .graphs import edge, graph, node


class FailingSearch:
    """A knowledge port whose search fails the way `knowledge.services.run_retrieve` does."""

    def __init__(self, code: str) -> None:
        self.code = code

    def search(self, **request):
        error = RuntimeError(f"The query could not be embedded: {self.code}")
        error.code = self.code
        raise error


def with_error_branch(failing: dict) -> dict:
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


def without_branch(failing: dict) -> dict:
    return graph(
        [node("in", "input"), failing, node("out", "output")],
        [edge("in", failing["id"]), edge(failing["id"], "out")],
    )


def retrieve(**config):
    return node(
        "find", "retrieve", query="{{ inputs.question }}", knowledge_bases=["Guide"], **config
    )


def run(document, retrieval=None):
    assert validate_graph(document) == [], validate_graph(document)
    memory = MemoryRun(
        document, {"question": "why?"}, llm=FakeLlm(), tools=FakeTools(), retrieval=retrieval
    )
    memory.run()
    return memory


def test_retrieve_and_flow_declare_the_error_port_and_policy():
    for slug in ("retrieve", "flow"):
        node_type = NODE_TYPES[slug]
        assert node_type.error_port is not None and node_type.error_port.name == "error"
        assert node_type.output_ports(None) == ["out", "error"]
        assert node_type.success_ports(None) == ["out"]
        fields = node_type.Config.model_json_schema()["properties"]
        assert list(fields)[-7:] == [
            "on_failure",
            "fallback_users",
            "fallback_groups",
            "fallback_instructions",
            "fallback_timeout",
            "fallback_timeout_action",
            "fallback_remind_after",
        ]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("embedding_server_error", "provider_error"),
        ("embedding_connection_error", "provider_error"),
        ("embedding_timeout", "timeout"),
        ("unknown_knowledge_base", "config_error"),
    ],
)
def test_retrieve_error_branch_carries_the_typed_error(code, kind):
    memory = run(with_error_branch(retrieve(on_failure="branch")), FailingSearch(code))
    assert memory.status == "succeeded"
    problem = memory.outcome.result["problem"]
    assert problem == {
        "type": kind,
        "code": code,
        "message": f"The query could not be embedded: {code}",
        "node": "find",
        "attempts": 1,
    }
    assert {s.node_id: s.status for s in memory.steps}["out"] == "skipped"


def test_retrieve_fail_policy_without_an_edge_fails_the_run():
    memory = run(without_branch(retrieve()), FailingSearch("embedding_server_error"))
    assert memory.status == "failed"
    assert memory.outcome.error_code == "embedding_server_error"


def test_retrieve_ask_policy_hands_the_step_to_a_person_who_types_the_chunks():
    failing = retrieve(
        on_failure="ask",
        fallback_users=["ann"],
        fallback_instructions="Find passages about {{ inputs.question }}",
        fallback_timeout="24h",
        fallback_timeout_action="branch",
        fallback_remind_after="4h",
    )
    memory = run(with_error_branch(failing), FailingSearch("embedding_timeout"))
    assert memory.status == "waiting"
    wait = memory.waits["find"]
    assert wait["kind"] == "fallback" and wait["users"] == ["ann"]
    assert wait["instructions"] == "Find passages about why?"
    assert wait["payload"]["error"]["type"] == "timeout"
    assert wait["payload"]["inputs"]["query"] == "why?"
    assert (wait["timeout_seconds"], wait["timeout_action"]) == (86400, "branch")
    assert wait["remind_after_seconds"] == 4 * 3600
    with pytest.raises(TypedOutputInvalid) as caught:
        memory.resolve("find", "output", output=[{"text": "no source"}])
    assert caught.value.problems == ["0: 'source' is a required property"]
    chunks = [{"text": "Because.", "source": "a person", "score": 1.0, "heading": ""}]
    memory.resolve("find", "output", output=chunks)
    assert memory.run() == "succeeded"
    assert memory.outcome.result == {"result": chunks}  # not the error branch


def call(**config):
    return node("call", "flow", flow=7, inputs={"topic": "{{ inputs.question }}"}, **config)


def test_flow_child_failure_goes_out_of_the_error_port_as_child_failed():
    memory = run(with_error_branch(call(on_failure="branch")))
    assert memory.status == "waiting" and memory.waits["call"]["flow"] == 7
    memory.child_finished(
        "call", status="failed", error_code="refusal", error_message="no", child_run_id=41
    )
    assert memory.run() == "succeeded"
    assert memory.outcome.result["problem"] == {
        "type": "child_failed",
        "code": "refusal",
        "message": "The sub-flow run #41 failed: no",
        "node": "call",
        "attempts": 1,
        "child_run_id": 41,
        "child_type": "refusal",
    }


def test_flow_child_failure_under_fail_fails_the_run_and_success_goes_on():
    memory = run(without_branch(call()))
    memory.child_finished("call", status="failed", error_code="server_error", child_run_id=3)
    assert memory.run() == "failed"
    assert memory.outcome.error_code == "server_error"

    memory = run(without_branch(call(on_failure="ask")))
    memory.child_finished("call", result={"answer": "tea"})
    assert memory.run() == "succeeded"
    assert memory.outcome.result == {"result": {"answer": "tea"}}


def test_flow_child_failure_under_ask_waits_for_a_person_who_may_retry():
    memory = run(without_branch(call(on_failure="ask", fallback_groups=["cooks"])))
    memory.child_finished("call", status="cancelled", error_code="cancelled", child_run_id=9)
    assert memory.status == "waiting"
    wait = memory.waits["call"]
    assert wait["kind"] == "fallback" and wait["groups"] == ["cooks"]
    assert wait["payload"]["error"]["type"] == "child_failed"
    assert wait["payload"]["error"]["child_run_id"] == 9
    memory.resolve("call", "retry")
    # The retry runs the node again: it waits for a new child run.
    assert memory.waits["call"]["flow"] == 7
    memory.child_finished("call", result={"answer": "second time"})
    assert memory.run() == "succeeded"
    attempts = [(s.attempt, s.status) for s in memory.steps if s.node_id == "call"]
    assert attempts == [(0, "failed"), (1, "succeeded")]


@pytest.mark.parametrize(
    ("on_failure", "status", "ports"),
    [("fail", "failed", []), ("branch", "failed", ["error"]), ("ask", "waiting", [])],
)
def test_flow_too_deep_is_a_depth_error_under_each_policy(on_failure, status, ports):
    document = (with_error_branch if on_failure == "branch" else without_branch)(
        call(on_failure=on_failure)
    )
    compiled = compile_graph(document)
    outcome = failed_after_run(
        compiled,
        RunState(compiled, []),
        "call",
        run_inputs={"question": "why?"},
        rendered={"inputs": {"topic": "why?"}},
        code="subflow_too_deep",
        message="Sub-flows are nested more than 5 levels deep here.",
    )
    assert (outcome.status, outcome.ports) == (status, ports)
    assert outcome.error_code == "subflow_too_deep"
    if on_failure == "fail":
        assert outcome.output is None
    else:
        assert outcome.output["type"] == "depth"
    if on_failure == "ask":
        assert outcome.wait["payload"]["inputs"] == {"in": None, "inputs": {"topic": "why?"}}

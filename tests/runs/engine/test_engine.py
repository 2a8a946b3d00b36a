"""The engine without a database: scheduling, skips, loops, budgets, cancel, approvals."""

import itertools
import threading

import pytest

from builder.graph import validate_graph
from runs.engine.memory import MemoryRun
from runs.engine.scheduler import Budgets

from .fakes import FakeLlm, FakeLlmError, FakeResponse, FakeTools, last_user, tool_call
from .graphs import edge, graph, node, prompt


def run_graph(document, inputs=None, llm=None, tools=None, **kwargs):
    assert validate_graph(document) == []
    run = MemoryRun(
        document,
        inputs or {"question": "why?"},
        llm=llm or FakeLlm(),
        tools=tools or FakeTools(),
        **kwargs,
    )
    run.run()
    return run


def statuses(run):
    return {(s.node_id, s.iteration): s.status for s in run.steps}


def test_engine_linear_chain_runs_in_order_and_sets_result():
    doc = graph(
        [
            node("in", "input"),
            prompt("draft"),
            node("out", "output", value="{{ nodes.draft.output }}"),
        ],
        [edge("in", "draft"), edge("draft", "out")],
    )
    llm = FakeLlm(lambda messages, kw: f"echo: {last_user(messages)}")
    run = run_graph(doc, llm=llm)
    assert run.status == "succeeded"
    assert run.outcome.result == {"result": "echo: Answer why?"}
    started = [e.node_id for e in run.events if e.kind == "step.started"]
    assert started == ["in", "draft", "out"]


def test_engine_templates_and_router_fields_read_a_node_by_its_key():
    doc = graph(
        [
            node("in", "input"),
            {**prompt("prompt_1"), "label": "Shopping list", "key": "shopping_list"},
            {
                **node(
                    "router_1",
                    "router",
                    routes=[
                        {
                            "name": "long",
                            "conditions": [
                                {
                                    "field": "nodes.shopping_list.output",
                                    "operator": "contains",
                                    "value": "echo",
                                }
                            ],
                        }
                    ],
                ),
                "key": "triage",
            },
            node(
                "out",
                "output",
                value="{{ nodes.shopping_list.output }} / {{ nodes.prompt_1.output }}",
            ),
        ],
        [edge("in", "prompt_1"), edge("prompt_1", "router_1"), edge("router_1", "out", "long")],
    )
    llm = FakeLlm(lambda messages, kw: f"echo: {last_user(messages)}")
    run = run_graph(doc, llm=llm)
    assert run.status == "succeeded"
    assert run.outcome.result == {"result": "echo: Answer why? / echo: Answer why?"}


def test_engine_router_takes_one_branch_and_skip_propagates():
    router = node(
        "route",
        "router",
        routes=[
            {
                "name": "long",
                "conditions": [
                    {"field": "inputs.question", "operator": "contains", "value": "long"}
                ],
            }
        ],
    )
    doc = graph(
        [
            node("in", "input"),
            router,
            prompt("a"),
            prompt("a2", "{{ nodes.a.output }}"),
            prompt("b"),
            node("out", "output"),
        ],
        [
            edge("in", "route"),
            edge("route", "a", "long"),
            edge("a", "a2"),
            edge("route", "b", "otherwise"),
            edge("a2", "out"),
            edge("b", "out"),
        ],
    )
    run = run_graph(doc, inputs={"question": "short one"})
    got = statuses(run)
    assert got[("a", 0)] == "skipped"
    assert got[("a2", 0)] == "skipped"  # the skip propagated
    assert got[("b", 0)] == "succeeded"
    assert got[("out", 0)] == "succeeded"
    route_step = next(s for s in run.steps if s.node_id == "route")
    assert route_step.output["route"] == "otherwise"

    run = run_graph(doc, inputs={"question": "a long one"})
    got = statuses(run)
    assert got[("a2", 0)] == "succeeded" and got[("b", 0)] == "skipped"


def test_engine_diamond_runs_branches_concurrently_and_joins():
    barrier = threading.Barrier(2, timeout=5)

    def reply(messages, kw):
        text = last_user(messages)
        if text.startswith("left") or text.startswith("right"):
            barrier.wait()  # both branches must be in flight at once, or this times out
        return text.upper()

    doc = graph(
        [
            node("in", "input"),
            prompt("left", "left {{ inputs.question }}"),
            prompt("right", "right {{ inputs.question }}"),
            prompt("join", "{{ nodes.left.output }} + {{ nodes.right.output }}"),
            node("out", "output"),
        ],
        [
            edge("in", "left"),
            edge("in", "right"),
            edge("left", "join"),
            edge("right", "join"),
            edge("join", "out"),
        ],
    )
    run = run_graph(doc, llm=FakeLlm(reply))
    assert run.status == "succeeded"
    assert run.outcome.result["result"] == "LEFT WHY? + RIGHT WHY?"
    join_started = next(
        i for i, e in enumerate(run.events) if e.kind == "step.started" and e.node_id == "join"
    )
    finished = [
        i
        for i, e in enumerate(run.events)
        if e.kind == "step.succeeded" and e.node_id in ("left", "right")
    ]
    assert len(finished) == 2 and max(finished) < join_started


def loop_graph(max_attempts=3, with_fail_path=False):
    nodes = [
        node("in", "input"),
        prompt("draft", "Write about {{ inputs.question }}. {{ feedback }}"),
        node(
            "check",
            "evaluator",
            rules=[{"kind": "contains", "value": "good", "message": "say good"}],
            max_attempts=max_attempts,
        ),
        node("out", "output"),
    ]
    edges = [
        edge("in", "draft"),
        edge("draft", "check"),
        edge("check", "out", "pass"),
        edge("check", "draft", "fail"),
    ]
    if with_fail_path:
        nodes.append(node("sorry", "output", name="failure"))
        edges.append(edge("check", "sorry", "fail"))
    return graph(nodes, edges)


def test_engine_evaluator_loop_feeds_back_and_passes():
    def reply(messages, kw):
        return "good text" if "say good" in last_user(messages) else "bad text"

    llm = FakeLlm(reply)
    run = run_graph(loop_graph(), llm=llm)
    assert run.status == "succeeded"
    assert [s.iteration for s in run.steps if s.node_id == "draft"] == [0, 1]
    assert "say good" in last_user(llm.calls[1]["messages"])  # feedback reached the template
    assert run.outcome.result == {"result": {"passed": True, "score": 1.0, "feedback": ""}}


def test_engine_evaluator_exhausted_fails_run_with_reason():
    llm = FakeLlm(lambda messages, kw: "bad text")
    run = run_graph(loop_graph(max_attempts=3), llm=llm)
    assert run.status == "failed"
    assert run.outcome.error_code == "evaluation_failed"
    assert "3 attempt" in run.outcome.error_message
    assert len(llm.calls) == 3


def test_engine_evaluator_exhausted_takes_forward_fail_path():
    run = run_graph(
        loop_graph(max_attempts=2, with_fail_path=True), llm=FakeLlm(lambda m, k: "bad")
    )
    assert run.status == "succeeded"
    assert "failure" in run.outcome.result and "result" not in run.outcome.result


def chain(n):
    nodes = [node("in", "input")] + [prompt(f"p{i}") for i in range(n)] + [node("out", "output")]
    ids = [n["id"] for n in nodes]
    return graph(nodes, [edge(a, b) for a, b in itertools.pairwise(ids)])


@pytest.mark.parametrize(
    ("budgets", "fragment"),
    [
        (Budgets(max_steps=3), "3 steps"),
        (Budgets(max_tokens=40), "40 tokens"),
        (Budgets(max_cost=0.002), "cost limit"),
        (Budgets(max_seconds=0), "time limit"),
    ],
)
def test_engine_budget_ends_run_with_reason(budgets, fragment):
    run = run_graph(chain(6), budgets=budgets)
    assert run.status == "failed"
    assert run.outcome.error_code == "budget_exceeded"
    assert fragment in run.outcome.error_message
    assert statuses(run).get(("out", 0)) is None


def test_engine_cancel_stops_scheduling_and_discards_late_result():
    started = threading.Event()
    release = threading.Event()

    def reply(messages, kw):
        started.set()
        release.wait(5)
        return "late"

    doc = chain(3)
    run = MemoryRun(doc, {"question": "q"}, llm=FakeLlm(reply), tools=FakeTools())
    worker = threading.Thread(target=run.run)
    worker.start()
    assert started.wait(5)
    run.cancel()
    release.set()
    worker.join(5)
    assert run.status == "cancelled"
    assert [s.status for s in run.steps if s.node_id == "p0"] == ["cancelled"]
    assert not any(s.node_id == "p1" for s in run.steps)


def test_engine_approval_and_default_output_name_values_by_label_not_by_id():
    doc = graph(
        [
            node("in", "input"),
            {**prompt("prompt_3"), "label": "Shopping list"},
            {**node("approval_1", "approval", show=["nodes.prompt_3.output"]), "label": "OK?"},
            node("out", "output", name="recipe"),
        ],
        [
            edge("in", "prompt_3"),
            edge("prompt_3", "approval_1"),
            edge("approval_1", "out", "approved"),
        ],
    )
    run = run_graph(doc, llm=FakeLlm(lambda m, k: "eggs"))
    assert run.waits["approval_1"]["payload"] == {"shopping_list": "eggs"}
    run.decide("approval_1", "approved")
    assert run.run() == "succeeded"
    assert run.outcome.result == {"recipe": {"shopping_list": "eggs"}}


def test_engine_approval_pauses_and_resumes_on_decision():
    doc = graph(
        [
            node("in", "input"),
            prompt("draft"),
            node("ok", "approval", show=["nodes.draft.output"], allow_edit=True),
            node("out", "output"),
            node("no", "output", name="rejected"),
        ],
        [
            edge("in", "draft"),
            edge("draft", "ok"),
            edge("ok", "out", "approved"),
            edge("ok", "no", "rejected"),
        ],
    )
    run = run_graph(doc, llm=FakeLlm(lambda m, k: "draft text"))
    assert run.status == "waiting"
    assert run.waits["ok"]["payload"] == {"draft": "draft text"}
    run.decide("ok", "approved", payload={"draft": "edited"})
    assert run.run() == "succeeded"
    assert run.outcome.result == {"result": {"draft": "edited"}}
    assert statuses(run)[("no", 0)] == "skipped"


def test_engine_tool_error_routes_to_error_port():
    def boom(args):
        raise _tool_error()

    doc = graph(
        [
            node("in", "input"),
            node("t", "tool", tool="lookup", arguments={"q": "{{ inputs.question }}"}),
            node("out", "output"),
            node("err", "output", name="error"),
        ],
        [edge("in", "t"), edge("t", "out"), edge("t", "err", "error")],
    )
    run = run_graph(doc, tools=FakeTools(lookup=boom))
    assert run.status == "succeeded"
    assert run.outcome.result["error"]["error"]["code"] == "http_error"


def _tool_error():
    from .fakes import FakeToolError

    return FakeToolError("http_error", "The site did not answer")


def test_engine_unrouted_llm_error_fails_run_with_code():
    doc = chain(1)
    run = run_graph(doc, llm=FakeLlm(lambda m, k: FakeLlmError("refusal", "The model refused")))
    assert run.status == "failed"
    assert run.outcome.error_code == "refusal"
    assert run.outcome.node_id == "p0"


def test_engine_prompt_tool_loop_feeds_results_back():
    def reply(messages, kw):
        if messages[-1]["role"] == "tool":
            return f"weather is {messages[-1]['content']}"
        return tool_call("weather", city="Paris")

    doc = graph(
        [node("in", "input"), prompt("p", tools=["weather"]), node("out", "output")],
        [edge("in", "p"), edge("p", "out")],
    )
    tools = FakeTools(weather=lambda args: {"sky": "clear", "city": args["city"]})
    run = run_graph(doc, llm=FakeLlm(reply), tools=tools)
    assert run.status == "succeeded"
    assert tools.calls == [("weather", {"city": "Paris"})]
    assert "clear" in run.outcome.result["result"]


def test_engine_json_output_repaired_once_then_valid():
    answers = iter(["not json", '{"n": 3}'])
    doc = graph(
        [
            node("in", "input"),
            prompt("p", output_format="json", json_schema={"type": "object", "required": ["n"]}),
            node("out", "output"),
        ],
        [edge("in", "p"), edge("p", "out")],
    )
    llm = FakeLlm(lambda m, k: next(answers))
    run = run_graph(doc, llm=llm)
    assert run.status == "succeeded"
    assert run.outcome.result == {"result": {"n": 3}}
    assert "not valid" in last_user(llm.calls[1]["messages"])


def test_engine_json_output_accepts_raw_control_characters_in_strings():
    reply = '{"steps": "Mix the flour\nand the milk.\tRest 5 min.", "n": 2}'
    doc = graph(
        [
            node("in", "input"),
            prompt("p", output_format="json", json_schema={"type": "object", "required": ["n"]}),
            node("out", "output"),
        ],
        [edge("in", "p"), edge("p", "out")],
    )
    llm = FakeLlm(lambda m, k: reply)
    run = run_graph(doc, llm=llm)
    assert run.status == "succeeded", run.outcome.error_code
    assert run.outcome.result == {
        "result": {"steps": "Mix the flour\nand the milk.\tRest 5 min.", "n": 2}
    }
    assert len(llm.calls) == 1  # parsed as it came: no repair round


def test_engine_json_output_invalid_twice_fails_step():
    doc = graph(
        [node("in", "input"), prompt("p", output_format="json"), node("out", "output")],
        [edge("in", "p"), edge("p", "out")],
    )
    run = run_graph(doc, llm=FakeLlm(lambda m, k: "still not json"))
    assert run.status == "failed" and run.outcome.error_code == "invalid_json"


def test_engine_streams_deltas():
    doc = chain(1)
    run = run_graph(doc, llm=FakeLlm(lambda m, k: FakeResponse(content="one two three")))
    deltas = [e.data["text"] for e in run.events if e.kind == "step.delta"]
    assert "".join(deltas).split() == ["one", "two", "three"]


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ inputs.__class__.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{% for x in range(10**9) %}{% endfor %}",
    ],
)
def test_engine_template_sandbox_refuses_and_fails_step(payload):
    doc = graph(
        [node("in", "input"), prompt("p", payload), node("out", "output")],
        [edge("in", "p"), edge("p", "out")],
    )
    run = MemoryRun(doc, {"question": "q"}, llm=FakeLlm(), tools=FakeTools())
    run.run()
    assert run.status == "failed"
    assert run.outcome.error_code == "template_error"
    assert run.outcome.error_message.startswith("Template")
    assert llm_never_called(run)


def llm_never_called(run):
    return run.llm.calls == []


def test_engine_truncated_reply_fails_or_is_kept_as_configured():
    def reply(messages, kw):
        error = FakeLlmError("truncated", "cut off")
        error.partial = "half an ans"
        error.tokens_out = 7
        return error

    strict = graph(
        [node("in", "input"), prompt("p"), node("out", "output")],
        [edge("in", "p"), edge("p", "out")],
    )
    run = run_graph(strict, llm=FakeLlm(reply))
    assert run.status == "failed" and run.outcome.error_code == "truncated"

    lenient = graph(
        [node("in", "input"), prompt("p", on_truncation="keep"), node("out", "output")],
        [edge("in", "p"), edge("p", "out")],
    )
    run = run_graph(lenient, llm=FakeLlm(reply))
    assert run.status == "succeeded"
    assert run.outcome.result == {"result": "half an ans"}
    assert run.tokens == 7

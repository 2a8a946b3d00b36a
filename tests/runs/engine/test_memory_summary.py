"""The memory node's rolling summary without a database: when the port says older turns must be
folded, one model call folds them into the summary kept so far, and the node shows it."""

from builder.graph import validate_graph
from runs.engine.graph import compile_graph
from runs.engine.nodes.memory import SUMMARY_LABEL
from runs.engine.runner import execute_step
from runs.engine.scheduler import RunState, StepState

from .fakes import FakeLlm, FakeLlmError, FakeResponse, FakeTools
from .graphs import edge, graph, node

SCHEMA = {"type": "object", "properties": {"message": {"type": "string"}}}


def document(**memory):
    return graph(
        [
            node("in", "input", schema=SCHEMA),
            node("recall", "memory", **memory),
            node("out", "output", value="{{ nodes.recall.output.text }}"),
        ],
        [edge("in", "recall"), edge("recall", "out")],
    )


class Conversation:
    """A port that answers recall with a scripted plan and keeps the saved summary."""

    def __init__(self, *, summary=None, fold=(), turns=()):
        self.summary = summary
        self.fold = list(fold)
        self.turns = list(turns)
        self.recalls: list[dict] = []
        self.saved: list[dict] = []

    def search(self, **request):
        raise AssertionError("no knowledge-base search here")

    def recall(self, **request):
        self.recalls.append(request)
        return {
            "turns": self.turns,
            "considered": 9,
            "usage": {"tokens": 3, "cost": 0.0, "calls": 1, "model": "fake/embed"},
            "summary": self.summary,
            "fold": self.fold,
        }

    def summary_save(self, *, text, upto, max_tokens):
        self.saved.append({"text": text, "upto": upto, "max_tokens": max_tokens})
        self.summary = {"text": text[: max_tokens * 4], "upto": upto, "tokens": 12}
        return self.summary


def turn(position, user, assistant, tokens=20):
    return {"turn": position, "user": user, "assistant": assistant, "tokens": tokens}


def recall(port, llm=None, **memory):
    doc = document(**memory)
    assert validate_graph(doc) == []
    compiled = compile_graph(doc)
    given = StepState("in", 0, status="succeeded", output={"message": "Where do I live?"})
    given.ports = ["out"]
    return execute_step(
        compiled,
        RunState(compiled, [given]),
        "recall",
        run_inputs={"message": "Where do I live?"},
        llm=llm or FakeLlm(lambda messages, kw: "The user lives in Oslo and has a dog, Rex."),
        tools=FakeTools(),
        retrieval=port,
    )


def test_memory_folds_the_overflow_into_the_summary_with_one_call():
    port = Conversation(
        summary={"text": "The user has a dog, Rex.", "upto": 3, "tokens": 15},
        fold=[turn(4, "I moved to Oslo.", "Noted."), turn(5, "It is cold.", "Wrap up warm.")],
        turns=[turn(8, "Any plans?", "A walk.")],
    )
    llm = FakeLlm(lambda messages, kw: "The user lives in Oslo and has a dog, Rex.")
    outcome = recall(port, llm, summarize=True, token_budget=600, summary_tokens=200)

    assert outcome.status == "succeeded", outcome.error_message
    assert port.recalls[0]["summary_tokens"] == 200
    assert len(llm.calls) == 1
    sent = llm.calls[0]["messages"][-1]["content"]
    # The summary so far and only the new turns go to the model, not the turns it covers.
    assert "The user has a dog, Rex." in sent and "I moved to Oslo." in sent
    assert "Any plans?" not in sent
    assert llm.calls[0]["max_tokens"] == 200
    assert port.saved == [
        {"text": "The user lives in Oslo and has a dog, Rex.", "upto": 5, "max_tokens": 200}
    ]
    assert outcome.output["summary"] == "The user lives in Oslo and has a dog, Rex."
    assert outcome.output["text"].startswith(SUMMARY_LABEL + " The user lives in Oslo")
    assert "User: Any plans?" in outcome.output["text"]
    assert outcome.output["tokens"] == 12 + 20
    assert outcome.details["memory"]["summary"] == {"upto": 5, "tokens": 12, "folded": [4, 5]}
    assert [r["kind"] for r in outcome.recordings] == ["memory", "llm", "summary"]


def test_memory_reuses_the_summary_when_nothing_overflows():
    port = Conversation(
        summary={"text": "The user has a dog, Rex.", "upto": 3, "tokens": 15},
        turns=[turn(4, "Hello", "Hi")],
    )
    llm = FakeLlm()
    outcome = recall(port, llm, summarize=True, token_budget=600, summary_tokens=200)
    assert outcome.status == "succeeded"
    assert llm.calls == [] and port.saved == []
    assert outcome.output["summary"] == "The user has a dog, Rex."
    assert outcome.output["tokens"] == 15 + 20


def test_memory_keeps_the_old_summary_when_the_summary_call_fails():
    port = Conversation(
        summary={"text": "The user has a dog, Rex.", "upto": 3, "tokens": 15},
        fold=[turn(4, "I moved to Oslo.", "Noted.")],
    )
    llm = FakeLlm(lambda messages, kw: FakeLlmError("rate_limited", "Slow down"))
    outcome = recall(port, llm, summarize=True, token_budget=600, summary_tokens=200)
    assert outcome.status == "succeeded"
    assert port.saved == []
    assert outcome.output["summary"] == "The user has a dog, Rex."
    assert outcome.details["memory_summary_error"]["code"] == "rate_limited"


def test_memory_without_summarize_asks_for_no_summary():
    port = Conversation(turns=[turn(1, "Hi", "Hello")])
    llm = FakeLlm()
    outcome = recall(port, llm, token_budget=600)
    assert outcome.status == "succeeded"
    assert "summary_tokens" not in port.recalls[0]
    assert llm.calls == [] and outcome.output["summary"] == ""
    assert outcome.output["text"] == "User: Hi\nAssistant: Hello"


def test_memory_summary_uses_its_own_model():
    port = Conversation(fold=[turn(1, "My name is Ada.", "Hello Ada.")])
    llm = FakeLlm(lambda messages, kw: FakeResponse(content="The user is Ada."))
    recall(port, llm, summarize=True, token_budget=400, summary_tokens=100, summary_model="x/mini")
    assert llm.calls[0]["model"] == "x/mini"


def test_summary_larger_than_half_the_budget_is_a_validation_error():
    errors = validate_graph(document(summarize=True, token_budget=300, summary_tokens=200))
    assert [(e.code, e.node_id, e.field) for e in errors] == [
        ("graph.E080", "recall", "summary_tokens")
    ]
    assert validate_graph(document(summarize=False, token_budget=300, summary_tokens=200)) == []

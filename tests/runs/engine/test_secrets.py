"""Credentials in the engine: only node types that build outbound requests read them, a step
reports which it read, and redaction finds their values in every spelling a record holds."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from runs.engine.graph import compile_graph
from runs.engine.runner import execute_step
from runs.engine.scheduler import RunState
from runs.engine.secrets import Redactor, UnknownSecret

from .fakes import FakeLlm, FakeTools
from .graphs import edge, graph, node, prompt

VALUE = 'k3y"with/odd chars&=='


def lookup(name: str) -> str:
    if name != "api":
        raise UnknownSecret(f"no credential {name}")
    return VALUE


def run_node(document: dict, node_id: str, tools=None, llm=None):
    compiled = compile_graph(document)
    return execute_step(
        compiled,
        RunState(compiled, []),
        node_id,
        run_inputs={"question": "q"},
        llm=llm or FakeLlm(),
        tools=tools or FakeTools(),
        secrets=lookup,
    )


def tool_graph(arguments: dict) -> dict:
    return graph(
        [node("in", "input"), node("call", "tool", tool="echo", arguments=arguments)],
        [edge("in", "call")],
    )


def test_a_tool_step_reads_the_credential_and_reports_it():
    sent = []
    tools = FakeTools(echo=lambda arguments: sent.append(arguments) or {"got": arguments})
    outcome = run_node(tool_graph({"key": "Bearer {{ secrets.api }}"}), "call", tools=tools)
    assert outcome.status == "succeeded"
    assert sent == [{"key": f"Bearer {VALUE}"}]
    assert outcome.secrets == {"api": VALUE}


def test_a_step_that_reads_no_credential_asks_for_none():
    asked = []
    compiled = compile_graph(tool_graph({"key": "{{ inputs.question }}"}))
    outcome = execute_step(
        compiled,
        RunState(compiled, []),
        "call",
        run_inputs={"question": "q"},
        llm=FakeLlm(),
        tools=FakeTools(echo=lambda arguments: arguments),
        secrets=lambda name: asked.append(name) or "x",
    )
    assert outcome.status == "succeeded" and outcome.secrets == {} and asked == []


def test_an_unknown_credential_fails_the_step_with_its_code():
    outcome = run_node(tool_graph({"key": "{{ secrets.other }}"}), "call")
    assert (outcome.status, outcome.error_code) == ("failed", "unknown_credential")


def test_a_prompt_never_sees_credentials():
    document = graph(
        [node("in", "input"), prompt("ask", "Key: {{ secrets.api }}")], [edge("in", "ask")]
    )
    llm = FakeLlm()
    outcome = run_node(document, "ask", llm=llm)
    assert (outcome.status, outcome.error_code) == ("failed", "template_error")
    assert llm.calls == [] and outcome.secrets == {}


@pytest.mark.parametrize(
    "spelling",
    [VALUE, json.dumps(VALUE)[1:-1], quote(VALUE, safe="")],
    ids=["as is", "json-escaped", "url-encoded"],
)
def test_redaction_finds_every_spelling(spelling):
    record = {"url": f"https://x.test/?k={spelling}", "nested": [{spelling: spelling}], "n": 3}
    assert Redactor({"api": VALUE})(record) == {
        "url": "https://x.test/?k=[secret:api]",
        "nested": [{"[secret:api]": "[secret:api]"}],
        "n": 3,
    }


def test_redaction_replaces_the_longer_value_first():
    redact = Redactor({"short": "abcdefgh", "long": "abcdefgh-and-more"})
    assert redact.text("abcdefgh-and-more / abcdefgh") == "[secret:long] / [secret:short]"

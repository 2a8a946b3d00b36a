"""JSON Schemas the app validates with: nothing fetched, patterns bounded, local refs kept."""

# Fixtures come from .loopback by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import json
import threading

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from runs.engine import schemas
from runs.engine.memory import MemoryRun
from runs.engine.nodes.base import NodeError
from runs.engine.nodes.checks import REMOTE_REF_ERROR
from runs.engine.nodes.evaluator import EvaluatorConfig, Rule, _check_rules
from runs.engine.nodes.input import InputConfig
from runs.engine.nodes.prompt import PromptConfig, parse_json_output
from runs.engine.schemas import SchemaCheckFailed, check_schema, validation_errors
from tests.runs.schema_spy import watch_pattern_search

from .fakes import FakeLlm, FakeTools
from .graphs import edge, graph, node, prompt
from .loopback import Listener, connect_once, listener  # noqa: F401

REDOS = "^(a|a)*$"  # catastrophic even for the `regex` engine
REDOS_TEXT = "a" * 28 + "!"


def outside_refs(server: Listener) -> list[dict]:
    """Schemas that reach outside themselves, every way we know."""
    return [
        {"$ref": server.url()},
        {"type": "object", "properties": {"a": {"$ref": server.url("/a.json#/x")}}},
        {"$id": server.url("/root.json"), "$ref": "other.json"},
        {"$defs": {"a": {"$ref": server.url("/deep")}}, "items": {"$ref": "#/$defs/a"}},
        {"$dynamicRef": server.url("/dynamic")},
        {"$ref": "file:///etc/passwd"},
        {"$ref": "other.json"},
    ]


def test_loopback_listener_counts_what_stock_jsonschema_would_fetch(listener):
    """The control: the listener sees our own connection, and stock jsonschema fetching."""
    connect_once(listener)
    before = listener.connections
    with pytest.raises(Exception):  # noqa: B017 - the listener answers nothing
        Draft202012Validator({"$ref": listener.url()}).validate(1)
    assert listener.connections == before + 1


@pytest.mark.parametrize("index", range(7))
def test_schema_outside_ref_is_refused_at_config_time_without_fetching(listener, index):
    schema = outside_refs(listener)[index]
    with pytest.raises(schemas.RemoteRef, match="points outside the schema"):
        check_schema(schema)
    configs = [
        lambda: PromptConfig(prompt="x", output_format="json", json_schema=schema),
        lambda: EvaluatorConfig(rules=[{"kind": "json_schema", "value": schema}]),
        lambda: InputConfig(schema={"type": "object", "properties": {"a": schema}}),
    ]
    for make in configs:
        with pytest.raises(ValidationError) as caught:
            make()
        assert [e["type"] for e in caught.value.errors()] == [REMOTE_REF_ERROR]
    assert listener.connections == 0


@pytest.mark.parametrize("index", range(7))
def test_schema_outside_ref_fails_at_run_time_without_fetching(listener, index):
    """Schemas saved before refs were checked: validating with them refuses, never fetches."""
    schema = outside_refs(listener)[index]
    with pytest.raises(SchemaCheckFailed, match="points outside the schema"):
        validation_errors(schema, {"a": 1})
    with pytest.raises(NodeError) as prompt_failure:
        parse_json_output('{"a": 1}', schema)
    assert prompt_failure.value.code == "schema_check_failed"
    rule = Rule.model_construct(kind="json_schema", value=schema, message="")
    with pytest.raises(NodeError) as rule_failure:
        _check_rules([rule], {"a": 1})
    assert rule_failure.value.code == "schema_check_failed"
    assert "nothing is fetched" in rule_failure.value.message
    assert listener.connections == 0


def test_schema_reference_the_static_check_missed_is_still_never_fetched(listener, monkeypatch):
    """Even past the static check, the registry refuses to retrieve anything."""
    monkeypatch.setattr(schemas, "check_schema", lambda schema: schema)
    with pytest.raises(SchemaCheckFailed, match="outside itself; nothing is fetched"):
        validation_errors({"$ref": listener.url()}, 1)
    with pytest.raises(SchemaCheckFailed, match="outside itself"):
        validation_errors({"$ref": "file:///etc/passwd"}, 1)
    assert listener.connections == 0


def test_schema_remote_dialect_or_vocabulary_is_never_fetched(listener):
    for schema in [
        {"$schema": listener.url("/meta"), "type": "string"},
        {"$vocabulary": {listener.url("/vocabulary"): True}, "type": "string"},
        {"$id": listener.url("/root"), "$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"},
    ]:
        assert check_schema(schema) is schema
        assert validation_errors(schema, "text") == []
        assert validation_errors(schema, 1)
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"$defs": {"n": {"type": "integer"}}, "items": {"$ref": "#/$defs/n"}}, [1, 2], [1, "x"]),
        (
            {"$id": "https://example.com/s", "$defs": {"n": {"$id": "urn:n", "type": "integer"}}}
            | {"$ref": "urn:n"},
            3,
            "x",
        ),
        ({"$defs": {"n": {"$anchor": "num", "type": "integer"}}, "$ref": "#num"}, 3, "x"),
        (
            {"$id": "https://example.com/s", "$defs": {"n": {"type": "integer"}}}
            | {"$ref": "https://example.com/s#/$defs/n"},
            3,
            "x",
        ),
        ({"enum": [{"$ref": "http://not.a/ref"}]}, {"$ref": "http://not.a/ref"}, {"$ref": "y"}),
    ],
)
def test_schema_references_inside_the_schema_still_work(schema, good, bad):
    assert check_schema(schema) is schema
    assert validation_errors(schema, good) == []
    assert validation_errors(schema, bad)


def test_schema_pattern_uses_regex_with_a_timeout():
    with pytest.raises(SchemaCheckFailed, match=r"took more than .* s to check"):
        validation_errors({"type": "string", "pattern": REDOS}, REDOS_TEXT)
    with pytest.raises(SchemaCheckFailed, match="took more than"):
        validation_errors({"type": "object", "patternProperties": {REDOS: {}}}, {REDOS_TEXT: 1})
    # The issue's pattern: catastrophic under `re`, answered at once by `regex`.
    [error] = validation_errors({"type": "string", "pattern": "^(a+)+$"}, REDOS_TEXT)
    assert "does not match" in error.message
    assert validation_errors({"pattern": r"^\p{Lu}"}, "Émile") == []  # regex syntax


def test_schema_limits_are_checked_when_saving():
    with pytest.raises(schemas.SchemaInvalid, match="at most 500 characters"):
        check_schema({"pattern": "a" * 501})
    with pytest.raises(schemas.SchemaInvalid, match="invalid pattern '\\(\\(': missing \\)"):
        check_schema({"pattern": "(("})
    with pytest.raises(schemas.SchemaInvalid, match="at most 128 KB"):
        check_schema({"description": "x" * 140_000})


def test_schema_unique_items_is_linear_and_json_equal():
    schema = {"uniqueItems": True}
    assert validation_errors(schema, [{"a": i} for i in range(20_000)]) == []
    assert validation_errors(schema, [{"a": 1}, {"a": 1.0}])
    assert validation_errors(schema, [1, True]) == []


def test_schema_whole_validation_has_a_deadline(monkeypatch):
    monkeypatch.setattr(schemas, "VALIDATION_SECONDS", 0.0)
    with pytest.raises(SchemaCheckFailed, match="ran for more than 0 s"):
        validation_errors({"type": "array", "items": {"type": "integer"}}, list(range(100)))


def _redos_graph(kind: str) -> dict:
    if kind == "prompt":
        schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": REDOS}}}
        nodes = [node("in", "input"), prompt("p", output_format="json", json_schema=schema)]
    else:
        rule = {"kind": "json_schema", "value": {"type": "string", "pattern": REDOS}}
        nodes = [node("in", "input"), node("p", "evaluator", target="{{ inputs.question|tojson }}")]
        nodes[1]["config"]["rules"] = [rule]
    nodes.append(node("out", "output"))
    return graph(nodes, [edge("in", "p"), edge("p", "out", "out" if kind == "prompt" else "pass")])


@pytest.mark.parametrize("kind", ["prompt", "evaluator"])
def test_schema_redos_fails_its_step_with_a_clear_reason(kind):
    run = MemoryRun(
        _redos_graph(kind),
        {"question": REDOS_TEXT},
        llm=FakeLlm(lambda messages, kw: json.dumps({"a": REDOS_TEXT})),
        tools=FakeTools(),
    )
    run.run()
    assert run.status == "failed"
    assert run.outcome.error_code == "schema_check_failed"
    assert "took more than" in run.outcome.error_message
    assert REDOS in run.outcome.error_message


def test_schema_redos_does_not_hold_up_other_work(monkeypatch):
    """Another evaluation completes while the bad pattern is still being searched."""
    monkeypatch.setattr(schemas, "REGEX_TIMEOUT_SECONDS", 4.0)
    monkeypatch.setattr(schemas, "VALIDATION_SECONDS", 60.0)
    done = threading.Event()
    searching = watch_pattern_search(monkeypatch, REDOS)
    outcome = {}

    def bad():
        try:
            validation_errors({"type": "string", "pattern": REDOS}, REDOS_TEXT)
        except SchemaCheckFailed as exc:
            outcome["error"] = str(exc)
        finally:
            done.set()

    worker = threading.Thread(target=bad)
    worker.start()
    assert searching.wait(30)
    errors = validation_errors({"type": "string", "pattern": "^a+$"}, "aaa")
    finished_while_searching = not done.is_set()
    worker.join(60)
    assert errors == []
    assert finished_while_searching, "the other validation waited for the bad pattern"
    assert "took more than 4 s" in outcome["error"]

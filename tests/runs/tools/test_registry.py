import logging

import jsonschema
import pytest

from runs.tools import (
    ERROR_CODES,
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    call_tool,
    openai_tool_specs,
    registry,
)
from runs.tools.base import TOOL_NAME_RE

CTX = ToolContext()
BUILT_INS = {"http_request", "json_query", "calculator", "current_time", "pantry"}
ECHO_SCHEMA = {
    "type": "object",
    "properties": {"word": {"type": "string"}, "times": {"type": "integer", "minimum": 1}},
    "required": ["word"],
    "additionalProperties": False,
}


@pytest.fixture
def register():
    added = []

    def add(name: str, func, **kwargs) -> Tool:
        tool = Tool(
            name=name, description="A test tool.", parameters=ECHO_SCHEMA, func=func, **kwargs
        )
        registry.register(tool)
        added.append(name)
        return tool

    yield add
    for name in added:
        registry.unregister(name)


def test_registry_has_the_built_in_tools():
    assert set(registry.names()) >= BUILT_INS
    assert registry.names() == sorted(registry.names())
    assert [tool.name for tool in registry.all()] == registry.names()


@pytest.mark.parametrize("tool", registry.all(), ids=lambda tool: tool.name)
def test_registered_tool_contract(tool):
    assert TOOL_NAME_RE.match(tool.name)
    assert tool.description.strip()
    assert tool.parameters["type"] == "object"
    jsonschema.Draft202012Validator.check_schema(tool.parameters)
    assert isinstance(tool.is_idempotent({}), bool)


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("calculator", {"expression": "round(19.99 * 3, 2)"}),
        ("current_time", {"timezone": "Europe/Paris"}),
        ("json_query", {"data": {"a": [1, 2]}, "expression": "a[0]"}),
        ("json_query", {"data": {"a": [1, 2]}, "expression": "b"}),
    ],
)
def test_tool_results_have_their_declared_shape(name, arguments):
    tool = registry.get(name)
    result = call_tool(name, arguments, context=CTX)
    jsonschema.validate(result, tool.result_schema)
    # A closed result: every field later nodes can read is declared (validation relies on it).
    assert tool.result_schema["additionalProperties"] is False
    assert set(result) <= set(tool.result_schema["properties"])


def test_tool_refuses_an_invalid_result_schema():
    with pytest.raises(ValueError, match="invalid result schema"):
        Tool(
            name="bad_result",
            description="x",
            parameters=ECHO_SCHEMA,
            func=lambda a, c: {},
            result_schema={"type": 5},
        )


def test_registry_refuses_duplicates(register):
    register("echo_dup", lambda args, ctx: args)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(
            Tool(name="echo_dup", description="again", parameters=ECHO_SCHEMA, func=print)
        )


@pytest.mark.parametrize("name", ["Echo", "1echo", "echo-tool", "", "e" * 65, "echo tool"])
def test_tool_names_are_slugs(name):
    with pytest.raises(ValueError):
        Tool(name=name, description="x", parameters=ECHO_SCHEMA, func=print)


def test_tool_parameters_must_be_an_object_schema():
    with pytest.raises(ValueError):
        Tool(name="bad", description="x", parameters={"type": "string"}, func=print)
    with pytest.raises(ValueError):
        Tool(name="bad", description="x", parameters={"type": "object", "required": 5}, func=print)


def test_call_tool_runs_the_tool_with_context(register):
    seen = {}

    def echo(arguments, context):
        seen["context"] = context
        return {"echo": arguments["word"] * arguments.get("times", 1), "pair": (1, 2)}

    register("echo_ok", echo)
    context = ToolContext(workspace_id=7, timeout=5)
    result = call_tool("echo_ok", {"word": "ab", "times": 2}, context=context)
    assert result == {"echo": "abab", "pair": [1, 2]}
    assert seen["context"] is context


def test_call_tool_accepts_function_calling_json_strings(register):
    register("echo_str", lambda args, ctx: args)
    assert call_tool("echo_str", '{"word": "hi"}', context=CTX) == {"word": "hi"}
    with pytest.raises(ToolError) as caught:
        call_tool("echo_str", '{"word": ', context=CTX)
    assert caught.value.code == "invalid_arguments"
    assert "not valid JSON" in caught.value.message


@pytest.mark.parametrize("arguments", [[1, 2], 5, "[1]", "true"])
def test_call_tool_arguments_must_be_an_object(register, arguments):
    register("echo_obj", lambda args, ctx: args)
    with pytest.raises(ToolError) as caught:
        call_tool("echo_obj", arguments, context=CTX)
    assert caught.value.code == "invalid_arguments"


def test_call_tool_lists_every_argument_problem_readably(register):
    register("echo_bad", lambda args, ctx: args)
    with pytest.raises(ToolError) as caught:
        call_tool("echo_bad", {"times": 0, "colour": "red"}, context=CTX)
    error = caught.value
    assert error.code == "invalid_arguments"
    assert error.details == [
        "'word' is a required argument",
        "unknown argument(s): colour",
        "times: must be at least 1",
    ]
    assert error.message.startswith("The arguments for “echo_bad” are not valid:")
    assert error.to_dict() == {
        "code": "invalid_arguments",
        "message": error.message,
        "details": error.details,
    }


def test_call_tool_never_echoes_huge_values(register):
    register("echo_long", lambda args, ctx: args)
    with pytest.raises(ToolError) as caught:
        call_tool("echo_long", {"word": ["x" * 10_000]}, context=CTX)
    assert caught.value.details == ["word: should be text, not a list"]


def test_call_tool_unknown_tool():
    with pytest.raises(ToolError) as caught:
        call_tool("no_such_tool", {}, context=CTX)
    assert caught.value.code == "unknown_tool"
    assert "no_such_tool" in caught.value.message
    with pytest.raises(ToolError) as caught:
        registry.get("x" * 1000)
    assert len(caught.value.message) < 120


def test_call_tool_wraps_unexpected_exceptions_safely(register, caplog):
    def explode(arguments, context):
        raise RuntimeError("database password is hunter2")

    register("explode", explode)
    with (
        caplog.at_level(logging.ERROR, logger="runs.tools.base"),
        pytest.raises(ToolError) as caught,
    ):
        call_tool("explode", {"word": "x"}, context=CTX)
    assert caught.value.code == "tool_failed"
    assert "hunter2" not in caught.value.message
    assert "explode" in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert any(record.exc_info for record in caplog.records)


def test_call_tool_passes_tool_errors_through(register):
    def refuse(arguments, context):
        raise ToolError("http_error", "The site is down.")

    register("refuse", refuse)
    with pytest.raises(ToolError) as caught:
        call_tool("refuse", {"word": "x"}, context=CTX)
    assert (caught.value.code, caught.value.message) == ("http_error", "The site is down.")


@pytest.mark.parametrize("bad", [object(), {"n": float("nan")}, {1: {2, 3}}])
def test_call_tool_result_must_be_json(register, bad):
    register("bad_result", lambda args, ctx: bad)
    with pytest.raises(ToolError) as caught:
        call_tool("bad_result", {"word": "x"}, context=CTX)
    assert caught.value.code == "tool_failed"


def test_call_tool_does_not_let_tools_mutate_the_callers_arguments(register):
    def mutate(arguments, context):
        arguments["word"] = "changed"
        return None

    register("mutate", mutate)
    arguments = {"word": "original"}
    assert call_tool("mutate", arguments, context=CTX) is None
    assert arguments == {"word": "original"}


def test_tool_idempotency_may_depend_on_arguments(register):
    assert register("flag", lambda a, c: None).is_idempotent({})
    assert not register("flag_no", lambda a, c: None, idempotent=False).is_idempotent({})
    per_call = register("per_call", lambda a, c: None, idempotent=lambda a: a.get("times") == 1)
    assert per_call.is_idempotent({"times": 1})
    assert not per_call.is_idempotent({"times": 2})
    broken = register("broken_flag", lambda a, c: None, idempotent=lambda a: a["missing"])
    assert not broken.is_idempotent({})


def test_openai_tool_specs_shape():
    specs = openai_tool_specs(["calculator", "json_query", "calculator"])
    assert [spec["function"]["name"] for spec in specs] == ["calculator", "json_query"]
    for spec in specs:
        assert spec["type"] == "function"
        assert set(spec["function"]) == {"name", "description", "parameters"}
        assert spec["function"]["parameters"]["type"] == "object"
    specs[0]["function"]["parameters"]["properties"].clear()
    assert registry.get("calculator").parameters["properties"]
    assert openai_tool_specs([]) == []


def test_openai_tool_specs_unknown_tool():
    with pytest.raises(ToolError) as caught:
        openai_tool_specs(["calculator", "nope"])
    assert caught.value.code == "unknown_tool"


def test_tool_error_codes_are_stable():
    assert {
        "unknown_tool",
        "invalid_arguments",
        "blocked_address",
        "too_large",
        "timeout",
        "http_error",
        "tool_failed",
    } == ERROR_CODES
    with pytest.raises(ValueError):
        ToolError("made_up", "x")


def test_separate_registries_are_independent():
    other = ToolRegistry()
    assert other.names() == []
    other.register(Tool(name="solo", description="x", parameters=ECHO_SCHEMA, func=print))
    assert "solo" in other
    assert "solo" not in registry

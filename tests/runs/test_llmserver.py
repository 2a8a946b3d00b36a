"""The scripted LLM server's own behaviour: defaults, scripting order, wire format."""

import json
import subprocess
import sys
import urllib.request

import openai
import pytest

from tests.llmserver import (
    ScriptedLLM,
    example_from_schema,
    http_error,
    json_reply,
    text,
    tool_call,
)


@pytest.fixture
def llm():
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def sdk(llm):
    return openai.OpenAI(base_url=llm.base_url, api_key="test", max_retries=0, timeout=5)


def ask(sdk, content="Hello there", **extra):
    return sdk.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": content}], **extra
    )


TRIAGE = {
    "type": "object",
    "properties": {
        "route": {"type": "string", "enum": ["billing", "tech", "other"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "urgent": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "count": {"type": "integer"},
        "owner": {"$ref": "#/$defs/Person"},
        "note": {"type": "string"},
        "reason": {"type": ["string", "null"]},
    },
    "required": ["route", "score", "urgent", "tags", "count", "owner"],
    "$defs": {
        "Person": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
            "required": ["name"],
        }
    },
}
EXPECTED = {
    "route": "billing",
    "score": 0.9,
    "urgent": True,
    "tags": ["example"],
    "count": 1,
    "owner": {"name": "example"},
    "reason": "example",
}


def test_llmserver_default_is_a_text_reply_with_usage(sdk, llm):
    response = ask(sdk, "Summarise the quarterly numbers for the board please")

    message = response.choices[0].message
    assert message.content == "Scripted reply: Summarise the quarterly numbers for the board please"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens == 8
    assert response.usage.completion_tokens == 10
    assert llm.call_count == 1


def test_llmserver_default_reply_quotes_sixty_characters(sdk):
    message = ask(sdk, "x" * 100).choices[0].message

    assert message.content == "Scripted reply: " + "x" * 60


def test_llmserver_default_calls_a_forced_function_with_schema_arguments(sdk):
    tools = [
        {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "triage", "parameters": TRIAGE}},
    ]

    response = ask(
        sdk, tools=tools, tool_choice={"type": "function", "function": {"name": "triage"}}
    )

    call = response.choices[0].message.tool_calls[0]
    assert call.function.name == "triage"
    assert json.loads(call.function.arguments) == EXPECTED
    assert response.choices[0].finish_reason == "tool_calls"


def test_llmserver_default_answers_required_tool_choice_with_the_first_tool(sdk):
    tools = [{"type": "function", "function": {"name": "triage", "parameters": TRIAGE}}]

    response = ask(sdk, tools=tools, tool_choice="required")

    assert response.choices[0].message.tool_calls[0].function.name == "triage"


def test_llmserver_default_ignores_tools_when_the_model_may_choose(sdk):
    tools = [{"type": "function", "function": {"name": "triage", "parameters": TRIAGE}}]

    response = ask(sdk, "hi", tools=tools)

    assert response.choices[0].message.content == "Scripted reply: hi"


def test_llmserver_default_fills_a_json_schema_response_format(sdk):
    response_format = {"type": "json_schema", "json_schema": {"name": "t", "schema": TRIAGE}}

    response = ask(sdk, response_format=response_format)

    assert json.loads(response.choices[0].message.content) == EXPECTED


def test_llmserver_default_json_object_without_schema_is_an_object(sdk):
    response = ask(sdk, response_format={"type": "json_object"})

    assert json.loads(response.choices[0].message.content) == {}


def test_example_from_schema_scores_feedback_and_integers():
    schema = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 3},
            "feedback": {"type": "string"},
            "extra": {"type": "string"},
            "anything": {"anyOf": [{"type": "null"}, {"type": "number"}]},
        },
        "required": ["anything"],
    }

    assert example_from_schema(schema) == {"score": 3, "feedback": "example", "anything": 1}


def test_llmserver_rules_come_before_the_queue_and_the_queue_before_the_default(sdk, llm):
    llm.on("weather", tool_call("forecast", {"city": "Oslo"}))
    llm.on(lambda r: r.get("temperature") == 0, text("cold"))
    llm.script(text("first"), json_reply({"n": 2}))

    answers = [
        ask(sdk, "what's the weather?").choices[0].message.tool_calls[0].function.name,
        ask(sdk, "a").choices[0].message.content,
        ask(sdk, "b", temperature=0).choices[0].message.content,
        ask(sdk, "c").choices[0].message.content,
        ask(sdk, "d").choices[0].message.content,
    ]

    assert answers == ["forecast", "first", "cold", '{"n": 2}', "Scripted reply: d"]
    assert [m["messages"][0]["content"] for m in llm.requests][-1] == "d"
    llm.reset()
    assert llm.call_count == 0 and llm.pending == 0


def test_llmserver_streams_sse_with_usage_and_done(llm):
    body = {
        "model": "scripted",
        "messages": [{"role": "user", "content": "stream me"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    llm.script(text("a b c"))
    request = urllib.request.Request(
        f"{llm.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )

    with urllib.request.urlopen(request, timeout=5) as response:
        events = [line for line in response.read().decode().splitlines() if line]

    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == "a b c"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


def test_llmserver_error_carries_status_retry_after_and_body(sdk, llm):
    llm.script(http_error(429, retry_after=7, message="Slow down"))

    with pytest.raises(openai.RateLimitError) as caught:
        ask(sdk)

    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["message"] == "Slow down"


def test_llmserver_lists_models(llm):
    with urllib.request.urlopen(f"{llm.base_url}/models", timeout=5) as response:
        models = json.loads(response.read())

    assert models["data"][0]["id"] == "scripted"


def test_llmserver_runs_standalone():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.llmserver", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        base_url = line.rsplit(" ", 1)[-1].strip()
        client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=30)
        answer = ask(client, "demo")
        assert answer.choices[0].message.content == "Scripted reply: demo"
    finally:
        process.terminate()
        process.wait(timeout=5)

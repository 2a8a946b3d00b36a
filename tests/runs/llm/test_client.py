"""LlmClient basics over real HTTP: answers, usage and cost, streaming, cache, model names."""

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from runs.llm import LlmClient, LlmError, LlmResponse, ToolCall
from runs.llm.client import backoff_delay
from runs.llm.errors import parse_retry_after
from runs.models import LlmCacheEntry
from tests.llmserver import text, tool_call, tool_calls

USER = [{"role": "user", "content": "Say hello to the team"}]
LOOKUP = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a city up",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_chat_returns_text_with_tokens_and_cost(client, llm):
    llm.script(text("Hello team", usage={"prompt_tokens": 1000, "completion_tokens": 500}))

    response = client.chat(model="openai/gpt-4o-mini", messages=USER, temperature=0.2)

    assert response.content == "Hello team"
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.model == "openai/gpt-4o-mini"
    assert (response.tokens_in, response.tokens_out) == (1000, 500)
    assert response.cost == pytest.approx(1000 * 0.15 / 1e6 + 500 * 0.60 / 1e6)
    assert response.cache_hit is False
    assert response.latency_ms >= 0
    sent = llm.requests[0]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"] == USER
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 512)
    assert "stream" not in sent and "tools" not in sent


def test_chat_bare_model_name_means_openai(client, llm):
    response = client.chat(model="gpt-4o", messages=USER)

    assert response.model == "openai/gpt-4o"
    assert response.content == "Scripted reply: Say hello to the team"


def test_chat_unknown_model_on_known_provider_is_unpriced(client, llm, caplog):
    llm.script(text("ok", usage={"prompt_tokens": 10, "completion_tokens": 10}))

    response = client.chat(model="openai/some-new-model", messages=USER)

    assert response.cost == 0
    assert response.tokens_in == 10
    assert "No price for openai/some-new-model" in caplog.text


@pytest.mark.parametrize("model", ["nowhere/gpt-4o", "nowhere/x/y", "openai/"])
def test_chat_unknown_provider_is_no_provider(client, llm, model):
    with pytest.raises(LlmError) as caught:
        client.chat(model=model, messages=USER)

    assert caught.value.code == "no_provider"
    assert llm.call_count == 0


def test_chat_empty_model_uses_settings_default(settings, providers, llm):
    settings.SWITCHBOARD_PROVIDERS = providers
    settings.SWITCHBOARD_DEFAULT_MODEL = "backup/small"

    response = LlmClient().chat(model="", messages=USER)

    assert response.model == "backup/small"
    assert llm.requests[0]["model"] == "small"


def test_chat_streams_deltas_in_order(client, llm):
    llm.script(text("One two three four five"))
    deltas = []

    response = client.chat(model="gpt-4o-mini", messages=USER, on_delta=deltas.append)

    assert deltas == ["One ", "two ", "three ", "four ", "five"]
    assert "".join(deltas) == response.content
    assert (response.tokens_in, response.tokens_out) == (5, 5)
    assert llm.requests[0]["stream"] is True
    assert llm.requests[0]["stream_options"] == {"include_usage": True}


def test_chat_streamed_tool_calls_are_assembled(client, llm):
    llm.script(tool_calls(("lookup", {"city": "Oslo"}), ("lookup", {"city": "Bergen, Norway"})))

    response = client.chat(
        model="gpt-4o-mini", messages=USER, tools=LOOKUP, on_delta=lambda _: None
    )

    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("lookup", {"city": "Oslo"}),
        ("lookup", {"city": "Bergen, Norway"}),
    ]
    assert all(c.id.startswith("call_") for c in response.tool_calls)
    assert response.finish_reason == "tool_calls"


def test_chat_sends_tools_choice_and_response_format(client, llm):
    choice = {"type": "function", "function": {"name": "lookup"}}
    llm.script(tool_call("lookup", {"city": "Oslo"}))

    client.chat(
        model="gpt-4o-mini",
        messages=USER,
        tools=LOOKUP,
        tool_choice=choice,
        response_format={"type": "json_object"},
        max_tokens=64,
    )

    sent = llm.requests[0]
    assert sent["tools"] == LOOKUP
    assert sent["tool_choice"] == choice
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["max_tokens"] == 64


def test_chat_empty_tool_arguments_mean_no_arguments(client, llm):
    llm.script(tool_call("now", ""))

    response = client.chat(model="gpt-4o-mini", messages=USER)

    assert response.tool_calls[0].arguments == {}


@pytest.mark.django_db
def test_chat_cache_hit_costs_nothing_and_skips_the_server(client, llm):
    llm.script(text("Cached answer", usage={"prompt_tokens": 100, "completion_tokens": 50}))

    first = client.chat(model="gpt-4o-mini", messages=USER, cache=True)
    deltas = []
    second = client.chat(model="gpt-4o-mini", messages=USER, cache=True, on_delta=deltas.append)

    assert llm.call_count == 1
    assert first.cache_hit is False and first.cost > 0
    assert second.content == "Cached answer"
    assert second.cache_hit is True
    assert (second.cost, second.tokens_in, second.tokens_out) == (0, 0, 0)
    assert second.attempts == []
    assert deltas == ["Cached answer"]
    entry = LlmCacheEntry.objects.get()
    assert (entry.model, entry.hits) == ("openai/gpt-4o-mini", 1)


@pytest.mark.django_db
def test_chat_cache_key_covers_the_parameters(client, llm):
    client.chat(model="gpt-4o-mini", messages=USER, cache=True)
    client.chat(model="gpt-4o-mini", messages=USER, cache=True, temperature=0.1)
    client.chat(model="gpt-4o", messages=USER, cache=True)
    client.chat(model="gpt-4o-mini", messages=USER, cache=True, tools=LOOKUP)
    client.chat(model="gpt-4o-mini", messages=USER)  # cache off: always calls

    assert llm.call_count == 5
    assert LlmCacheEntry.objects.count() == 4


@pytest.mark.django_db
def test_chat_cache_disabled_on_the_client(providers, llm):
    client = LlmClient(providers, cache_enabled=False)

    client.chat(model="gpt-4o-mini", messages=USER, cache=True)
    client.chat(model="gpt-4o-mini", messages=USER, cache=True)

    assert llm.call_count == 2
    assert not LlmCacheEntry.objects.exists()


def test_response_round_trips_through_json():
    response = LlmResponse(
        content=None,
        tool_calls=[ToolCall(id="call_1", name="lookup", arguments={"city": "Oslo"})],
        finish_reason="tool_calls",
        model="openai/gpt-4o-mini",
        tokens_in=12,
        tokens_out=7,
        cost=0.0001,
        cache_hit=False,
        latency_ms=250,
        attempts=[
            {
                "model": "openai/gpt-4o-mini",
                "outcome": "ok",
                "status": 200,
                "latency_ms": 250,
                "retry_after": None,
            }
        ],
    )

    assert LlmResponse.from_dict(json.loads(json.dumps(response.to_dict()))) == response


def test_backoff_delay_is_full_jitter_under_the_cap():
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 20.0)]:
        delays = [backoff_delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2


def test_parse_retry_after_accepts_seconds_dates_and_milliseconds():
    now = datetime(2030, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)

    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after": later}, now=now.timestamp()) == pytest.approx(7)
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "999"}) == 60
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None

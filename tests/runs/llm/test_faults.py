"""One test per fault the provider layer must survive or report, over real HTTP."""

import time

import pytest

from runs.llm import LlmError
from tests.llmserver import (
    connection_reset,
    hang,
    http_error,
    refusal,
    stream_cut,
    text,
    tool_call,
    truncated,
)

USER = [{"role": "user", "content": "Say hello to the team"}]


def words(messages):
    return sum(len((m.get("content") or "").split()) for m in messages)


def outcomes(attempts):
    return [(a["model"], a["outcome"]) for a in attempts]


def test_chat_rate_limited_honours_retry_after_then_succeeds(client, llm, sleeps):
    llm.script(http_error(429, retry_after=3), text("Hello team"))

    response = client.chat(model="openai/gpt-4o-mini", messages=USER)

    assert response.content == "Hello team"
    assert sleeps == [3.0]
    assert [a["outcome"] for a in response.attempts] == ["rate_limited", "ok"]
    assert response.attempts[0]["status"] == 429
    assert response.attempts[0]["retry_after"] == 3.0
    assert llm.call_count == 2


def test_chat_retry_after_is_capped_at_a_minute(client, llm, sleeps):
    llm.script(http_error(503, retry_after=3600), text("ok"))

    client.chat(model="gpt-4o-mini", messages=USER)

    assert sleeps == [60.0]


def test_chat_server_error_retried_with_jittered_backoff(client, llm, sleeps):
    llm.script(http_error(500), http_error(502), text("Recovered"))

    response = client.chat(model="gpt-4o-mini", messages=USER)

    assert response.content == "Recovered"
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0
    assert [a["outcome"] for a in response.attempts] == ["server_error", "server_error", "ok"]


def test_chat_retries_exhausted_falls_back_to_next_model(client, llm, sleeps):
    llm.script(http_error(503), http_error(503), text("From the fallback"))

    response = client.chat(
        model="openai/gpt-4o-mini", messages=USER, retries=1, fallback_models=["openai/gpt-4o"]
    )

    assert response.content == "From the fallback"
    assert response.model == "openai/gpt-4o"
    assert outcomes(response.attempts) == [
        ("openai/gpt-4o-mini", "server_error"),
        ("openai/gpt-4o-mini", "server_error"),
        ("openai/gpt-4o", "ok"),
    ]
    assert [r["model"] for r in llm.requests] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert len(sleeps) == 1  # between retries of one model, not before a fallback


def test_chat_all_models_failing_raises_last_error_with_every_attempt(client, llm):
    llm.script(*[http_error(503)] * 4)

    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER, retries=1, fallback_models=["gpt-4o"])

    assert caught.value.code == "server_error"
    assert len(caught.value.attempts) == 4
    assert "openai/gpt-4o-mini (2 tries)" in caught.value.message


def test_chat_auth_error_skips_retries_and_falls_back_to_other_provider(client, llm, sleeps):
    llm.script(http_error(401), text("Backup answer"))

    response = client.chat(
        model="openai/gpt-4o-mini", messages=USER, fallback_models=["backup/small"]
    )

    assert response.model == "backup/small"
    assert outcomes(response.attempts) == [
        ("openai/gpt-4o-mini", "auth_error"),
        ("backup/small", "ok"),
    ]
    assert sleeps == []


def test_chat_unknown_model_404_falls_back(client, llm):
    body = {"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}}
    llm.script(http_error(404, body=body), text("ok"))

    response = client.chat(model="openai/gpt-9", messages=USER, fallback_models=["gpt-4o-mini"])

    assert response.attempts[0]["outcome"] == "unknown_model"
    assert response.model == "openai/gpt-4o-mini"


def test_chat_connection_reset_retried(client, llm, sleeps):
    llm.script(connection_reset(), text("After the reset"))

    response = client.chat(model="gpt-4o-mini", messages=USER)

    assert response.content == "After the reset"
    assert [a["outcome"] for a in response.attempts] == ["connection_error", "ok"]
    assert len(sleeps) == 1


def test_chat_stream_cut_mid_response_retried(client, llm):
    llm.script(stream_cut("This answer stops half way"), text("The whole answer"))
    deltas = []

    response = client.chat(model="gpt-4o-mini", messages=USER, on_delta=deltas.append)

    assert response.content == "The whole answer"
    assert [a["outcome"] for a in response.attempts] == ["stream_cut", "ok"]
    assert "".join(deltas).endswith("The whole answer")


def test_chat_stream_cut_exhausted_reports_partial_text(client, llm):
    llm.script(stream_cut("Half of it", after_chunks=2))

    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER, retries=0, on_delta=lambda _: None)

    assert caught.value.code == "stream_cut"
    assert caught.value.partial == "Half "


def test_chat_malformed_tool_arguments_reasked_then_succeeds(client, llm):
    llm.script(tool_call("lookup", '{"city": "Oslo"'), tool_call("lookup", {"city": "Oslo"}))
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

    response = client.chat(model="gpt-4o-mini", messages=USER, tools=tools)

    assert [(c.name, c.arguments) for c in response.tool_calls] == [("lookup", {"city": "Oslo"})]
    assert response.content is None
    assert [a["outcome"] for a in response.attempts] == ["malformed_tool_call", "ok"]
    reask = llm.requests[1]["messages"]
    assert reask[:1] == USER
    assert reask[1]["role"] == "assistant"
    assert reask[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"'
    assert reask[2]["role"] == "tool"
    assert reask[2]["tool_call_id"] == reask[1]["tool_calls"][0]["id"]
    assert "not valid JSON" in reask[2]["content"] and "lookup" in reask[2]["content"]
    assert response.tokens_in == words(USER) + words(reask)  # both turns are paid for


@pytest.mark.parametrize("arguments", ["{bad json", "[1, 2]", '"just a string"'])
def test_chat_thrice_malformed_tool_arguments_raise(client, llm, arguments):
    llm.script(*[tool_call("lookup", arguments)] * 3)

    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER)

    assert caught.value.code == "malformed_tool_call"
    assert llm.call_count == 3
    assert [a["outcome"] for a in caught.value.attempts] == ["malformed_tool_call"] * 3


def test_chat_refusal_is_typed(client, llm):
    llm.script(refusal("I can't help with that request."))

    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER)

    assert caught.value.code == "refusal"
    assert "I can't help with that request." in caught.value.message
    assert llm.call_count == 1


def test_chat_refusal_while_streaming_is_typed(client, llm):
    llm.script(refusal("No."))

    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER, on_delta=lambda _: None)

    assert caught.value.code == "refusal"


def test_chat_finish_reason_length_is_truncated_with_partial_text(client, llm):
    llm.script(truncated("The first half of"))

    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER)

    assert caught.value.code == "truncated"
    assert caught.value.partial == "The first half of"
    assert caught.value.tokens_out == 4
    assert llm.call_count == 1


def test_chat_hang_times_out_quickly(client, llm):
    llm.script(hang(30))
    started = time.monotonic()

    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER, timeout=0.5, retries=0)

    assert caught.value.code == "timeout"
    assert caught.value.attempts[0]["outcome"] == "timeout"
    # A sanity bound, not a speed test: the client gave up long before the hang would answer.
    assert time.monotonic() - started < 20


def test_chat_timeout_is_retried(client, llm):
    llm.script(hang(30), text("Second time lucky"))

    response = client.chat(model="gpt-4o-mini", messages=USER, timeout=0.5, retries=1)

    assert [a["outcome"] for a in response.attempts] == ["timeout", "ok"]


def test_chat_bad_request_not_retried_nor_fallen_back(client, llm, sleeps):
    llm.script(http_error(400, message="Invalid value for 'temperature'"))

    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER, fallback_models=["gpt-4o"])

    assert caught.value.code == "bad_request"
    assert "Invalid value for 'temperature'" in caught.value.message
    assert llm.call_count == 1
    assert sleeps == []

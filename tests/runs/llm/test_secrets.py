"""No API key ever reaches an LlmError message or the logs."""

import logging

import pytest

from runs.llm import LlmError
from tests.llmserver import connection_reset, http_error, text

SENTINEL = "sk-SENTINEL-do-not-leak-0123456789"
USER = [{"role": "user", "content": "Say hello to the team"}]


@pytest.fixture
def loud_logs(caplog):
    for name in ("", "runs.llm", "openai", "httpx", "httpx2", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_api_key_never_in_error_messages_or_logs(client, llm, monkeypatch, loud_logs):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    echoes_key = {
        "error": {
            "message": f"Incorrect API key provided: {SENTINEL}. Bearer {SENTINEL}",
            "code": "invalid_api_key",
        }
    }
    llm.script(
        http_error(401, body=echoes_key),
        http_error(400, body=echoes_key),
        http_error(429, retry_after=1, body=echoes_key),
        connection_reset(),
        http_error(500, body=echoes_key),
    )
    errors = []
    for _ in range(2):
        with pytest.raises(LlmError) as caught:
            client.chat(model="gpt-4o-mini", messages=USER)
        errors.append(caught.value)
    with pytest.raises(LlmError) as caught:
        client.chat(model="gpt-4o-mini", messages=USER, retries=2)
    errors.append(caught.value)

    assert [e.code for e in errors] == ["auth_error", "bad_request", "server_error"]
    assert "OPENAI_API_KEY" in errors[0].message
    for error in errors:
        assert SENTINEL not in error.message
        assert SENTINEL not in str(error) and SENTINEL not in repr(error)
        assert SENTINEL not in str(error.to_dict())
        assert "SENTINEL" not in error.message
    assert loud_logs.records, "expected the retries to be logged"
    assert SENTINEL not in loud_logs.text
    assert all(SENTINEL not in str(r.args) for r in loud_logs.records)


def test_api_key_sent_to_the_provider_but_not_logged(client, llm, monkeypatch, loud_logs):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    llm.script(text("ok"))

    client.chat(model="gpt-4o-mini", messages=USER)

    assert llm.request_headers[0]["authorization"] == f"Bearer {SENTINEL}"
    assert any(r.name.startswith("openai") for r in loud_logs.records), "SDK debug logs captured"
    assert SENTINEL not in loud_logs.text

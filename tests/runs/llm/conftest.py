"""Fixtures: a scripted OpenAI-compatible server and an LlmClient pointed at it."""

import pytest

from runs.llm import LlmClient
from tests.llmserver import ScriptedLLM

PRICES = {
    "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    "gpt-4o": {"input": 2.50, "output": 10.00},
}


@pytest.fixture
def llm():
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def providers(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-for-scripted-server")
    return {
        "openai": {"base_url": llm.base_url, "api_key_env": "OPENAI_API_KEY", "models": PRICES},
        "backup": {
            "base_url": llm.base_url,
            "api_key_env": "BACKUP_API_KEY",
            "models": {"small": {"input": 1.0, "output": 2.0}},
        },
        "local": {
            "base_url": llm.base_url,
            "api_key_env": "",
            "models": {"smollm2": {"input": 0.0, "output": 0.0}},
        },
    }


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(providers, sleeps):
    return LlmClient(providers, sleep=sleeps.append)

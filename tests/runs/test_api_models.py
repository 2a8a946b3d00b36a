"""GET /api/models: the configured providers' models with prices, for signed-in members only."""

import pytest


@pytest.fixture
def providers(settings):
    settings.SWITCHBOARD_PROVIDERS = {
        "openai": {
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "OPENAI_API_KEY",
            "models": {"gpt-4o-mini": {"input": 0.15, "output": 0.6}, "gpt-x": None},
        },
        "local": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "", "models": {}},
    }
    settings.SWITCHBOARD_DEFAULT_MODEL = "gpt-4o-mini"


def test_models_lists_every_priced_model_with_its_price(client, member, providers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-that-must-not-leak-0123")
    client.force_login(member("editor"))
    response = client.get("/api/models")
    assert response.status_code == 200
    body = response.json()
    assert body == [
        {
            "name": "openai/gpt-4o-mini",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "input_per_million": 0.15,
            "output_per_million": 0.6,
            "is_default": True,
        },
        {
            "name": "openai/gpt-x",
            "provider": "openai",
            "model": "gpt-x",
            "input_per_million": None,
            "output_per_million": None,
            "is_default": False,
        },
    ]
    assert "sk-secret" not in response.content.decode()


def test_models_needs_a_signed_in_person(client, providers):
    assert client.get("/api/models").status_code == 401

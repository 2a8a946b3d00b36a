# ruff: noqa: F811
"""The credential canary: values saved in the vault reach the services they are for, and
appear nowhere else — no API response, page, export, table row, event, recording or log line.

One run does everything a leak could come from: an HTTP tool sends a credential in a header and
in its URL to a loopback service that echoes both back (so the step's own result carries the
value), then a prompt on a model provider added through the settings page reads that result,
with the provider's key (another credential) going to the scripted model server.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.apps import apps
from django.test import Client

from runs.executor import InlineExecutor
from runs.models import Recording, Run, RunEvent, Step
from tests.llmserver import text
from vault.models import Credential, Provider

from .conftest import inline, loopback_allowed, memory_layer, receiver, weather_graph  # noqa: F401

WEATHER_KEY = "cnryWeatherKey7f3a9c1d2e"
PROVIDER_KEY = "cnryProviderKey4b8e0f6a9d"
CANARIES = (WEATHER_KEY, PROVIDER_KEY)


def leaks(text: str) -> list[str]:
    return [canary for canary in CANARIES if canary in text]


def every_row_as_text() -> str:
    """Every row of every table, as text."""
    dumped = []
    for model in apps.get_models(include_auto_created=True):
        dumped.append(json.dumps(list(model.objects.values()), default=str))
    return "\n".join(dumped)


@pytest.fixture
def owner_client(member):
    owner = member("owner", username="olga")
    client = Client()
    client.force_login(owner)
    return owner, client


def add_through_pages(client: Client, workspace, llm_base_url: str) -> list:
    """Save both credentials and the provider through the settings pages, as a person would."""
    base = f"/settings/{workspace.pk}"
    responses = [
        client.post(
            f"{base}/credentials/create/",
            {"name": "weather_api", "value": WEATHER_KEY, "description": "OpenWeather"},
        ),
        client.post(f"{base}/credentials/create/", {"name": "acme_key", "value": PROVIDER_KEY}),
    ]
    key = Credential.objects.get(workspace=workspace, name="acme_key")
    responses.append(
        client.post(
            f"{base}/providers/create/",
            {
                "name": "acme",
                "base_url": llm_base_url,
                "credential": str(key.pk),
                "model_name": ["echo-1", ""],
                "model_input_price": ["2", ""],
                "model_output_price": ["8", ""],
                "model_context_window": ["8192", ""],
                "model_tier": ["small", "medium"],
            },
        )
    )
    for response in responses:
        assert response.status_code == 302, response.content.decode()[:2000]
    assert Provider.objects.filter(workspace=workspace, name="acme").exists()
    return responses


@pytest.mark.django_db
def test_credential_canary_never_leaks(
    owner_client, workspace, make_flow, inline, receiver, loopback_allowed, caplog
):
    caplog.set_level(logging.DEBUG)
    _owner, client = owner_client
    responses = add_through_pages(client, workspace, inline.base_url)
    inline.script(text("Sunny, 21 degrees."))
    flow = make_flow(weather_graph(receiver.url, "acme/echo-1"))

    started = client.post(
        f"/api/flows/{flow.pk}/runs",
        data=json.dumps({"inputs": {"city": "Oslo"}, "use_draft": True}),
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    InlineExecutor().advance(started.json()["id"])
    run = Run.objects.get(pk=started.json()["id"])
    assert run.status == "succeeded", (run.error_code, run.error_message)

    # The values went where they were meant to: the service got the credential, the model
    # server got the provider key.
    assert receiver.received[0]["headers"]["authorization"] == f"Bearer {WEATHER_KEY}"
    assert f"key={WEATHER_KEY}" in receiver.received[0]["path"]
    assert inline.request_headers[-1]["authorization"] == f"Bearer {PROVIDER_KEY}"
    # The model read the tool's result with the credential already replaced.
    prompt_sent = json.dumps(inline.requests[-1]["messages"])
    assert "[secret:weather_api]" in prompt_sent and not leaks(prompt_sent)
    # What the step recorded says where the credential went, by name.
    weather = Step.objects.get(run=run, node_id="weather")
    assert weather.input["arguments"]["headers"]["Authorization"] == "Bearer [secret:weather_api]"
    assert weather.output["json"]["echo"]["headers"]["authorization"] == (
        "Bearer [secret:weather_api]"
    )
    summary = Step.objects.get(run=run, node_id="summary")
    assert summary.model == "acme/echo-1" and summary.cost > 0
    assert Recording.objects.filter(step__run=run).count() == 2
    assert RunEvent.objects.filter(run=run).count() > 5
    assert all(c.last_used_at is not None for c in Credential.objects.all())

    # Code that logs a value it should not have (a library's debug line, say) is redacted too.
    logging.getLogger("some.library").warning("calling with key=%s", WEATHER_KEY)
    logging.getLogger("some.library").error("provider key %s", PROVIDER_KEY)

    seen: dict[str, str] = {}
    for i, response in enumerate(responses):
        seen[f"settings response {i}"] = response.content.decode() + str(response.headers)
    api_paths = [
        f"/api/runs/{run.pk}",
        f"/api/runs/{run.pk}/events",
        f"/api/runs?workspace={workspace.pk}",
        f"/api/flows/{flow.pk}",
        f"/api/flows/{flow.pk}/export",
        f"/api/flows/{flow.pk}/versions",
        f"/api/workspaces/{workspace.pk}/credentials",
        f"/api/workspaces/{workspace.pk}/providers",
        "/api/workspaces",
    ]
    pages = [
        f"/runs/{run.pk}/",
        "/runs/",
        f"/flows/{flow.pk}/",
        "/",
        f"/settings/{workspace.pk}/credentials/",
        f"/settings/{workspace.pk}/providers/",
        f"/settings/{workspace.pk}/audit/",
    ]
    for path in api_paths + pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        seen[path] = response.content.decode()
    seen["every table"] = every_row_as_text()
    seen["logs"] = caplog.text
    leaked = {where: leaks(content) for where, content in seen.items() if leaks(content)}
    assert leaked == {}
    # The scan would have seen them: the placeholders are there, and so are the log lines.
    assert "[secret:weather_api]" in seen[f"/api/runs/{run.pk}/events"]
    assert "calling with key=[secret:weather_api]" in caplog.text
    assert "weather_api" in seen[f"/settings/{workspace.pk}/credentials/"]

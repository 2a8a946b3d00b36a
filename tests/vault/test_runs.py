# ruff: noqa: F811
"""Credentials and workspace providers inside runs: resolved at call time, by name, or refused."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.domain import Invalid
from runs.engine.secrets import Secrets
from runs.engine.templates import TemplateRenderError, render, render_value
from runs.executor import InlineExecutor
from runs.models import Run, Step
from runs.services import run_start
from tests.llmserver import text
from vault.models import Credential
from vault.services import credential_create, provider_create

from .conftest import (  # noqa: F401
    chain_graph,
    inline,
    loopback_allowed,
    memory_layer,
    node,
    receiver,
    weather_graph,
)

KEY = "weather-key-0f9e8d7c"


def run_to_end(user, flow, **inputs) -> Run:
    run = run_start(user=user, flow=flow, inputs=inputs or None, use_draft=True)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def test_templates_read_credentials_by_name_and_nothing_else():
    looked_up = []

    def lookup(name):
        looked_up.append(name)
        return f"value-of-{name}"

    variables = {"secrets": Secrets(lookup)}
    assert render_value("{{ secrets.weather_api }}", variables) == "value-of-weather_api"
    assert render("Bearer {{ secrets['weather_api'] }}", variables) == "Bearer value-of-weather_api"
    assert looked_up == ["weather_api"]  # remembered for the step, asked once
    assert render("{{ secrets }}", variables) == "[secrets]"
    for probe in ("{{ secrets._resolved }}", "{{ secrets.__class__ }}", "{{ secrets._lookup }}"):
        with pytest.raises(TemplateRenderError):
            render(probe, variables)
    with pytest.raises(TemplateRenderError):
        render("{% for k in secrets %}{{ k }}{% endfor %}", variables)


@pytest.mark.django_db
def test_an_unknown_credential_refuses_the_run_with_its_code(member, make_flow, inline):
    user = member("editor")
    flow = make_flow(weather_graph("https://api.example.com", "openai/gpt-4o-mini"))
    with pytest.raises(Invalid) as refused:
        run_start(user=user, flow=flow, inputs={"city": "Oslo"}, use_draft=True)
    codes = {e["code"] for e in refused.value.extra["errors"]}
    assert codes == {"graph.E026"}
    assert 'no credential called "weather_api"' in refused.value.extra["errors"][0]["message"]


@pytest.mark.django_db
def test_a_credential_deleted_after_the_run_started_fails_its_step(
    member, workspace, make_flow, inline, receiver, loopback_allowed
):
    user = member("owner")
    credential_create(user=user, workspace_id=workspace.pk, name="weather_api", value=KEY)
    flow = make_flow(weather_graph(receiver.url, "openai/gpt-4o-mini"))
    run = run_start(user=user, flow=flow, inputs={"city": "Oslo"}, use_draft=True)
    Credential.objects.all().delete()
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    step = Step.objects.get(run=run, node_id="weather")
    assert (step.status, step.error_code) == ("failed", "unknown_credential")
    assert "weather_api" in step.error_message
    assert run.status == "failed" and receiver.received == []


@pytest.mark.django_db
def test_a_flow_without_credentials_never_reads_the_vault(member, make_flow, inline):
    user = member("editor")
    flow = make_flow(
        chain_graph(
            node("start", "input", {}),
            node("sum", "tool", {"tool": "calculator", "arguments": {"expression": "1 + 2"}}),
            node("end", "output", {}),
        )
    )
    run = run_start(user=user, flow=flow, inputs=None, use_draft=True)
    with CaptureQueriesContext(connection) as captured:
        InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert not [q["sql"] for q in captured.captured_queries if "vault_" in q["sql"]]


@pytest.fixture
def acme(member, workspace, inline, loopback_allowed):
    """A provider added to the workspace, on the scripted model server, with its own key."""
    owner = member("owner")
    key = credential_create(
        user=owner, workspace_id=workspace.pk, name="acme_key", value="acme-key-77aa11bb"
    )
    provider_create(
        user=owner,
        workspace_id=workspace.pk,
        name="acme",
        base_url=inline.base_url,
        credential_id=key.pk,
        models=[{"name": "echo-1", "input_price": "2", "output_price": "10", "tier": "small"}],
    )
    return owner


def prompt_flow(make_flow, model: str):
    return make_flow(
        chain_graph(
            node("start", "input", {}),
            node("ask", "prompt", {"model": model, "prompt": "Say hello"}),
            node("end", "output", {}),
        ),
        name=f"Ask {model}",
    )


@pytest.mark.django_db
def test_a_prompt_runs_on_a_workspace_provider_with_its_key_and_prices(acme, make_flow, inline):
    inline.script(text("Hello there", usage={"prompt_tokens": 1000, "completion_tokens": 500}))
    run = run_to_end(acme, prompt_flow(make_flow, "acme/echo-1"))
    assert run.status == "succeeded", (run.error_code, run.error_message)
    step = Step.objects.get(run=run, node_id="ask")
    assert step.model == "acme/echo-1" and step.output == "Hello there"
    assert float(step.cost) == pytest.approx((1000 * 2 + 500 * 10) / 1_000_000)
    assert inline.request_headers[-1]["authorization"] == "Bearer acme-key-77aa11bb"
    assert inline.requests[-1]["model"] == "echo-1"
    # The server's providers still work next to it.
    inline.script(text("Hi"))
    assert run_to_end(acme, prompt_flow(make_flow, "openai/gpt-4o-mini")).status == "succeeded"
    assert inline.request_headers[-1]["authorization"] != "Bearer acme-key-77aa11bb"


@pytest.mark.django_db
def test_another_workspace_cannot_use_the_provider(
    acme, make_flow, inline, other_workspace, member
):
    from builder.models import Flow

    stranger = member("owner", username="stranger", ws=other_workspace)
    flow = Flow.objects.create(
        workspace=other_workspace,
        name="Borrow",
        graph=chain_graph(
            node("start", "input", {}),
            node("ask", "prompt", {"model": "acme/echo-1", "prompt": "Say hello"}),
            node("end", "output", {}),
        ),
    )
    run = run_to_end(stranger, flow)
    step = Step.objects.get(run=run, node_id="ask")
    assert step.error_code == "no_provider" and inline.call_count == 0


@pytest.mark.django_db
def test_the_ssrf_guard_is_checked_again_at_call_time(acme, make_flow, inline, settings):
    settings.SWITCHBOARD_ALLOW_LOOPBACK = False
    run = run_to_end(acme, prompt_flow(make_flow, "acme/echo-1"))
    step = Step.objects.get(run=run, node_id="ask")
    assert step.error_code == "blocked_address", step.error_message
    assert inline.call_count == 0


def http_chain(url: str, header: str, steps: int) -> dict:
    calls = [
        node(
            f"call{i}",
            "tool",
            {"tool": "http_request", "arguments": {"url": url, "headers": {"X-Key": header}}},
        )
        for i in range(steps)
    ]
    return chain_graph(node("start", "input", {}), *calls, node("end", "output", {}))


@pytest.mark.django_db
def test_a_credential_costs_one_read_per_step_that_uses_it(
    member, workspace, make_flow, inline, receiver, loopback_allowed
):
    user = member("owner")
    credential_create(user=user, workspace_id=workspace.pk, name="weather_api", value=KEY)

    def statements(header: str) -> int:
        flow = make_flow(http_chain(receiver.url + "/x", header, 3), name=header)
        run = run_start(user=user, flow=flow, inputs=None, use_draft=True)
        with CaptureQueriesContext(connection) as captured:
            InlineExecutor().advance(run.pk)
        assert Run.objects.get(pk=run.pk).status == "succeeded"
        return len(captured.captured_queries)

    plain = statements("literal-header-value")
    with_secret = statements("{{ secrets.weather_api }}")
    # One SELECT per step, and the first use's last_used_at UPDATE (then at most once a minute).
    assert with_secret - plain == 3 + 1
    assert [r["headers"]["x-key"] for r in receiver.received[-3:]] == [KEY] * 3

"""Settings → Credentials and Model providers in a browser: save a key (never shown again), add
a provider on the scripted model server with it, and run a prompt through that provider."""

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from runs.models import Run, Step
from tests.llmserver import text
from vault.models import Credential, Provider

from .conftest import eventually, login
from .test_csp import no_violations, watch_csp

pytestmark = pytest.mark.e2e

KEY = "acme-browser-key-5d4c3b2a"


def prompt_flow(workspace) -> Flow:
    nodes = [
        {"id": "start", "type": "input", "position": {"x": 0, "y": 0}, "config": {}},
        {
            "id": "ask",
            "type": "prompt",
            "label": "Ask Acme",
            "position": {"x": 260, "y": 0},
            "config": {"model": "acme/echo-1", "prompt": "Greet the team"},
        },
        {"id": "end", "type": "output", "position": {"x": 520, "y": 0}, "config": {}},
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "ask"},
        {"id": "e2", "source": "ask", "target": "end"},
    ]
    return Flow.objects.create(
        workspace=workspace,
        name="Acme greeting",
        graph={"schema_version": 1, "nodes": nodes, "edges": edges},
    )


def test_add_a_provider_in_settings_and_run_a_prompt_through_it(page, demo, llm_server, artifacts):
    workspace = demo["workspace"]
    complaints = watch_csp(page)
    login(page, demo["owner"])

    page.goto(f"/settings/{workspace.pk}/credentials/")
    expect(page.get_by_role("heading", name="No credentials yet")).to_be_visible()
    page.screenshot(path=str(artifacts / "vault-credentials-empty.png"), full_page=True)
    page.get_by_label("Name").fill("acme_key")
    page.get_by_label("Value").fill(KEY)
    page.get_by_label("Description").fill("Acme inference API")
    page.get_by_role("button", name="Save credential").click()
    expect(page.get_by_role("status")).to_contain_text("Saved “acme_key”")
    row = page.locator('[data-credential="acme_key"]')
    expect(row).to_contain_text("secrets.acme_key")
    assert KEY not in page.content()
    # Replace, not edit: the field starts empty and the old value is never in the page.
    row.get_by_text("Replace", exact=True).click()
    expect(row.get_by_label("New value for acme_key")).to_have_value("")
    page.screenshot(path=str(artifacts / "vault-credentials.png"), full_page=True)

    page.get_by_role("link", name="Model providers").click()
    expect(page.get_by_role("heading", name="Model providers")).to_be_visible()
    expect(page.locator('[data-server-provider="openai"]')).to_contain_text("Read-only")
    page.get_by_label("Name", exact=True).fill("acme")
    page.get_by_label("Base URL").fill(llm_server.base_url)
    page.get_by_label("API key").select_option(label="acme_key")
    first = page.locator("[data-model-row]").first
    first.get_by_label("Model name").fill("echo-1")
    first.get_by_label("Input price per million tokens").fill("1.5")
    first.get_by_label("Output price per million tokens").fill("6")
    first.get_by_label("Context window in tokens").fill("32000")
    first.get_by_label("Tier").select_option("small")
    rows = page.locator("[data-model-rows]").first.locator("[data-model-row]")
    expect(rows).to_have_count(3)
    page.get_by_role("button", name="+ Another model").first.click()
    expect(rows).to_have_count(4)
    no_violations(page, complaints, "providers page")
    page.screenshot(path=str(artifacts / "vault-providers-add.png"), full_page=True)
    page.get_by_role("button", name="Add provider").click()
    expect(page.get_by_role("status")).to_contain_text("acme/echo-1")
    card = page.locator('[data-provider="acme"]')
    expect(card).to_contain_text("acme/echo-1")
    expect(card).to_contain_text("acme_key")
    assert KEY not in page.content()
    page.screenshot(path=str(artifacts / "vault-providers.png"), full_page=True)
    provider = Provider.objects.get(workspace=workspace, name="acme")
    assert provider.credential == Credential.objects.get(workspace=workspace, name="acme_key")

    llm_server.on("Greet the team", text("Hello from Acme!"))
    flow = prompt_flow(workspace)
    page.goto(f"/flows/{flow.pk}/")
    page.get_by_role("button", name="Test run").first.click()
    page.get_by_role("button", name="Run draft").click()
    finished = Run.objects.filter(flow=flow, status__in=["succeeded", "failed"])
    eventually(finished.exists, 20)
    run = finished.get()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    step = Step.objects.get(run=run, node_id="ask")
    assert (step.model, step.output) == ("acme/echo-1", "Hello from Acme!")
    assert any(h.get("authorization") == f"Bearer {KEY}" for h in llm_server.request_headers)

    page.goto(f"/runs/{run.pk}/")
    expect(page.get_by_text("Hello from Acme!").first).to_be_visible()
    assert KEY not in page.content()
    page.screenshot(path=str(artifacts / "vault-run.png"), full_page=True)
    no_violations(page, complaints, "run page")

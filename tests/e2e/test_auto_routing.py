"""The run page shows what automatic routing chose and why, and each tier the cascade tried."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from runs.executor import InlineExecutor, set_executor
from tests.llmserver import text

from .conftest import login
from .test_run_page import open_run, run_here

# Runs started here execute in this process (test_run_page's inline_runs fixture).
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("inline_runs")]


@pytest.fixture
def inline_runs(llm_server):
    """Runs started by the test itself execute in this process, synchronously."""
    set_executor(InlineExecutor())
    yield llm_server
    set_executor(None)


CANDIDATES = ["openai/gpt-4o-mini", "openai/gpt-4.1-mini", "openai/gpt-4o"]


def auto_flow(workspace) -> Flow:
    def edge(source, target, port="out"):
        return {
            "id": f"{source}.{port}-{target}",
            "source": source,
            "source_port": port,
            "target": target,
        }

    graph = {
        "schema_version": 1,
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "position": {"x": 0, "y": 0},
                "config": {"schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
            },
            {
                "id": "ask",
                "type": "prompt",
                "label": "Answer",
                "position": {"x": 250, "y": 0},
                "config": {
                    "model": "auto",
                    "candidates": CANDIDATES,
                    "prompt": "What is the capital of {{ inputs.q }}? {{ feedback }}",
                },
            },
            {
                "id": "check",
                "type": "evaluator",
                "label": "Names the city",
                "position": {"x": 500, "y": 0},
                "config": {"rules": [{"kind": "contains", "value": "Paris"}], "max_attempts": 3},
            },
            {"id": "out", "type": "output", "position": {"x": 750, "y": 0}, "config": {}},
        ],
        "edges": [
            edge("in", "ask"),
            edge("ask", "check"),
            edge("check", "out", "pass"),
            edge("check", "ask", "fail"),
        ],
    }
    return Flow.objects.create(workspace=workspace, name="Auto routing", graph=graph)


def test_the_run_page_shows_the_routed_model_and_the_escalation(page, demo, llm_server, artifacts):
    llm_server.on(lambda r: r["model"] == "gpt-4o-mini", text("Lyon"))
    llm_server.on(lambda r: r["model"] == "gpt-4.1-mini", text("Paris"))
    owner = demo["owner"]
    run = run_here(owner, auto_flow(demo["workspace"]), inputs={"q": "France"})
    assert run.status == "succeeded", run.error_message
    login(page, owner)
    open_run(page, run.pk)
    rows = page.locator('[data-step-node="ask"]')
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("auto → openai/gpt-4o-mini (small)")
    expect(rows.last).to_contain_text("auto → openai/gpt-4.1-mini (medium)")
    rows.last.locator(".sb-step-head").click()
    decision = page.locator('[data-decision="routing"]')
    expect(decision).to_contain_text("Auto chose openai/gpt-4.1-mini (medium tier)")
    expect(decision).to_contain_text("sent back 1 time(s) by an evaluator")
    page.screenshot(path=str(artifacts / "run-page-auto-routing.png"))

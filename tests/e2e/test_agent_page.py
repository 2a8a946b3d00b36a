"""An agent's run page in a real browser: its thoughts, tool calls, results, answer and
critiques are entries nested under its step on the timeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from builder.services import flow_create
from runs.executor import InlineExecutor, set_executor
from runs.models import Step
from runs.services import run_start
from tests.llmserver import Reply, text, tool_call

from .conftest import login
from .test_run_page import open_run

pytestmark = pytest.mark.e2e

BUNDLE = Path(settings.BASE_DIR) / "static" / "canvas" / "run_page.js"


def agent_graph() -> dict:
    def node(node_id, type_, x, **config):
        return {"id": node_id, "type": type_, "label": node_id.title(),
                "position": {"x": x, "y": 0}, "config": config}  # fmt: skip

    def edge(source, target):
        return {"id": f"e_{source}_{target}", "source": source, "source_port": "out",
                "target": target, "target_port": "in"}  # fmt: skip

    schema = {"type": "object", "properties": {"question": {"type": "string"}}}
    return {
        "schema_version": 1,
        "nodes": [
            node("ask", "input", 0, schema=schema, sample={"question": "What is 19.99 × 3?"}),
            node(
                "agent",
                "agent",
                220,
                goal="Work out {{ inputs.question }}",
                tools=["calculator"],
                reflection="critique",
            ),
            node("result", "output", 440),
        ],
        "edges": [edge("ask", "agent"), edge("agent", "result")],
    }


@pytest.fixture
def agent_run(demo, llm_server):
    owner = demo["owner"]
    flow = flow_create(
        user=owner, workspace_id=demo["workspace"].pk, name="Agent sums", graph=agent_graph()
    )
    llm_server.script(
        Reply(
            "message",
            content="I will multiply with the calculator.",
            tool_calls=[("calculator", {"expression": "19.99 * 3"})],
            finish_reason="tool_calls",
        ),
        text("About 60."),
        tool_call("submit_verdict", {"met": False, "feedback": "Give the exact amount."}),
        text("19.99 × 3 = 59.97"),
        tool_call("submit_verdict", {"met": True, "feedback": "Exact and complete."}),
    )
    set_executor(InlineExecutor())
    try:
        run = run_start(user=owner, flow=flow, inputs=None)
        InlineExecutor().advance(run.pk)
    finally:
        set_executor(None)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    return run


def test_agent_substeps_are_nested_under_its_step(page, demo, agent_run, artifacts):
    if b"sb-substeps" not in BUNDLE.read_bytes():
        pytest.skip("static/canvas/run_page.js predates the agent sub-steps: rebuild the bundle")
    login(page, demo["owner"])
    open_run(page, agent_run.pk)
    step = Step.objects.get(run=agent_run, node_id="agent")
    row = page.locator(f'[data-step-key="s{step.pk}"]')
    parts = row.locator("[data-substeps] .sb-substep")
    expect(parts).to_have_count(7)
    labels = parts.locator(".sb-substep-label").all_text_contents()
    assert labels == [
        "Thought",
        "Calls calculator",
        "Result",
        "Answer",
        "Rejected by the reviewer",
        "Answer",
        "Accepted by the reviewer",
    ]
    expect(parts.nth(4)).to_contain_text("Give the exact amount.")
    expect(parts.nth(5)).to_contain_text("59.97")
    page.screenshot(path=str(artifacts / "agent_run_page.png"), full_page=True)

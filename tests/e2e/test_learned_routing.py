"""The run page says when the learned router chose the model, and why (its probabilities)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from evals import router as router_service
from evals.models import RouterModel
from runs.engine.learned_routing import fit
from tests.llmserver import text
from tests.runs.engine.routing_labels import split

from .conftest import login
from .test_auto_routing import CANDIDATES, inline_runs  # noqa: F401
from .test_run_page import open_run, run_here

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("inline_runs")]

EMBEDDINGS = "openai/text-embedding-3-small"
HARD = (
    "Our enterprise contract covers the {{ inputs.q }}, but finance opened a chargeback "
    "dispute in Norway; which clause applies and what do we owe?"
)


def test_the_run_page_shows_the_learned_routers_choice(page, demo, llm_server, settings, artifacts):
    from builder.models import Flow

    settings.SWITCHBOARD_ROUTER_EMBEDDING_MODEL = EMBEDDINGS
    router_service._loaded.clear()
    train, _held_out = split()
    RouterModel.objects.create(
        workspace=demo["workspace"],
        params=fit(train, embedding_model=EMBEDDINGS).to_dict(),
        embedding_model=EMBEDDINGS,
        label_count=len(train),
        metrics={"accuracy": 0.99, "baseline_accuracy": 0.46, "held_out": 48},
        active=True,
    )
    llm_server.on(lambda r: True, text("Clause 14.2 applies."))
    prompt = {"model": "auto", "candidates": CANDIDATES, "prompt": HARD}
    graph = {
        "schema_version": 1,
        "nodes": [
            {"id": "in", "type": "input", "position": {"x": 0, "y": 0},
             "config": {"schema": {"type": "object", "properties": {"q": {"type": "string"}}}}},
            {"id": "ask", "type": "prompt", "label": "Answer", "position": {"x": 250, "y": 0},
             "config": prompt},
            {"id": "out", "type": "output", "position": {"x": 500, "y": 0}, "config": {}},
        ],
        "edges": [
            {"id": "e1", "source": "in", "source_port": "out", "target": "ask"},
            {"id": "e2", "source": "ask", "source_port": "out", "target": "out"},
        ],
    }  # fmt: skip
    flow = Flow.objects.create(workspace=demo["workspace"], name="Learned routing", graph=graph)
    run = run_here(demo["owner"], flow, inputs={"q": "headset"})
    assert run.status == "succeeded", run.error_message
    login(page, demo["owner"])
    open_run(page, run.pk)
    row = page.locator('[data-step-node="ask"]')
    expect(row).to_contain_text("auto → openai/gpt-4o (large")
    row.locator(".sb-step-head").click()
    decision = page.locator('[data-decision="routing"]')
    expect(decision).to_contain_text("Auto chose openai/gpt-4o (large tier)")
    expect(decision).to_contain_text("learned router (240 labels; held-out accuracy 99%")
    expect(decision).to_contain_text("P(a small model passes) = 0.")
    page.screenshot(path=str(artifacts / "run-page-learned-routing.png"))

"""The run page marks a step answered from the semantic cache: free, and what it matched (the
past request and its similarity, in the step's detail)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from runs.executor import InlineExecutor, set_executor

from .conftest import login
from .test_run_page import open_run, run_here

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("inline_runs")]

FIRST = "My parcel has not arrived yet, where is it?"
PARAPHRASE = "My parcel has not arrived, where is it now?"


@pytest.fixture
def inline_runs(llm_server, settings):
    settings.SWITCHBOARD_EMBEDDING_MODEL = "openai/text-embedding-3-small"
    set_executor(InlineExecutor())
    yield llm_server
    set_executor(None)


def cached_flow(workspace, **config) -> Flow:
    def edge(source, target):
        return {
            "id": f"{source}-{target}",
            "source": source,
            "source_port": "out",
            "target": target,
        }

    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    graph = {
        "schema_version": 1,
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "position": {"x": 0, "y": 0},
                "config": {"schema": schema},
            },
            {
                "id": "ask",
                "type": "prompt",
                "label": "Answer",
                "position": {"x": 250, "y": 0},
                "config": {
                    "prompt": "{{ inputs.q }}",
                    "semantic_cache": True,
                    "semantic_similarity": 0.6,
                    **config,
                },
            },
            {"id": "out", "type": "output", "position": {"x": 500, "y": 0}, "config": {}},
        ],
        "edges": [edge("in", "ask"), edge("ask", "out")],
    }
    return Flow.objects.create(workspace=workspace, name="Support answers", graph=graph)


def test_the_run_page_shows_a_semantic_cache_hit(page, demo, llm_server, artifacts):
    owner = demo["owner"]
    flow = cached_flow(demo["workspace"])
    run_here(owner, flow, inputs={"q": FIRST})
    hit = run_here(owner, flow, inputs={"q": PARAPHRASE})
    assert hit.status == "succeeded", hit.error_message
    assert llm_server.call_count == 1
    login(page, owner)
    open_run(page, hit.pk)
    row = page.locator('[data-step-node="ask"]')
    expect(row).to_contain_text("cache hit")
    row.locator(".sb-step-head").click()
    expect(page.locator('[data-step-fact="cache"]')).to_have_text("Hit (free)")
    expect(page.locator('[data-step-fact="cost"]')).to_have_text("$0.0000")
    # What it matched, in a section of its own: the past request, its similarity against the
    # threshold, the model that answered it and what the hit saved.
    section = page.locator('[data-semantic-cache="hit"]')
    expect(section.locator("[data-semantic-matched]")).to_have_text(FIRST)
    similarity = hit_similarity(hit)
    expect(section.locator('[data-semantic-fact="similarity"]')).to_have_text(f"{similarity:.3f}")
    expect(section.locator('[data-semantic-fact="threshold"]')).to_have_text("0.60")
    expect(section.locator('[data-semantic-fact="answered by"]')).to_have_text("openai/gpt-4o-mini")
    expect(section.locator('[data-semantic-fact="saved"]')).not_to_have_text("—")
    # No longer repeated in the step's notes.
    expect(page.locator("[data-step-detail]")).not_to_contain_text('"similarity"')
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "run-page-semantic-cache.png"))


def hit_similarity(run) -> float:
    from runs.models import Step

    return Step.objects.get(run=run, node_id="ask").details["semantic_cache"]["similarity"]


EASY = "What is the capital of France?"
HARD = (
    "What is the capital of France? Prove it step by step, calculate 3x + 5 = 20, then "
    "implement it."
)


def test_the_run_page_shows_a_hit_refused_for_its_tier(page, demo, llm_server, settings):
    settings.SWITCHBOARD_PROVIDERS = {"openai": settings.SWITCHBOARD_PROVIDERS["openai"]}
    owner = demo["owner"]
    flow = cached_flow(
        demo["workspace"], model="auto", semantic_similarity=0.58, semantic_same_figures=False
    )
    run_here(owner, flow, inputs={"q": EASY})  # routed small: the small model's answer is stored
    hard = run_here(owner, flow, inputs={"q": HARD})  # routed large: that answer is refused
    assert hard.status == "succeeded", hard.error_message
    login(page, owner)
    open_run(page, hard.pk)
    page.locator('[data-step-node="ask"] .sb-step-head').click()
    section = page.locator('[data-semantic-cache="refused"]')
    expect(section).to_contain_text("a tier below the one the router chose")
    expect(section.locator("[data-semantic-matched]")).to_have_text(EASY)
    expect(section.locator('[data-semantic-fact="its tier"]')).to_have_text("small")
    expect(section.locator('[data-semantic-fact="routed to"]')).to_have_text("large")
    expect(section.locator('[data-semantic-fact="saved"]')).to_have_text("—")

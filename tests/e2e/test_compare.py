"""The compare page in a real browser: a run against its re-run from a step, and a reproduction."""

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from builder.services import flow_save_draft
from runs.executor import InlineExecutor
from runs.services import run_start
from runs.services.reruns import run_reproduce, run_rerun
from tests.llmserver import text
from tests.runs.support import finish_inline as finish
from tests.runs.support import inline, memory_layer  # noqa: F401

from .conftest import login

pytestmark = pytest.mark.e2e


def fits_1280(page) -> None:
    """At 1280 px wide nothing spills sideways (the smallest width the pages support)."""
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.set_viewport_size({"width": 1440, "height": 900})


FIRST = (
    "1. Heat the oven to 180C.\n2. Layer pasta, sauce and vegetables.\n"
    "3. Bake for 40 minutes.\n4. Rest before serving."
)
SECOND = (
    "1. Heat the oven to 200C.\n2. Layer pasta, sauce and vegetables.\n"
    "3. Bake for 35 minutes, covered.\n4. Rest before serving."
)


@pytest.fixture
def runs(demo, llm_server, inline):  # noqa: F811
    """A finished recipe run, its re-run from the instructions step on an edited draft, and its
    reproduction, all executed in this process (`inline`: a resumed run too)."""
    owner = demo["owner"]
    flow = Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")
    llm_server.on("Write cooking instructions", text(FIRST))
    original = finish(run_start(user=owner, flow=flow, inputs=None), owner)
    graph = flow.graph
    for node in graph["nodes"]:
        if node["id"] == "instructions":
            node["config"]["prompt"] = "Improved: steps for {{ inputs.dish }}, oven first."
    flow_save_draft(flow=flow, graph=graph, revision=flow.revision)
    llm_server.on("Improved:", text(SECOND))
    rerun = run_rerun(user=owner, run=original, from_node="instructions", use_draft=True)
    rerun = finish(rerun, owner)
    copy = run_reproduce(user=owner, run=original)
    InlineExecutor().advance(copy.pk)
    return {"owner": owner, "original": original, "rerun": rerun, "copy": copy}


def test_compare_a_run_with_its_rerun_from_a_step(page, runs, artifacts):
    original, rerun = runs["original"], runs["rerun"]
    login(page, runs["owner"])
    page.goto(f"/runs/{original.pk}/compare/{rerun.pk}/")
    expect(page.get_by_test_id("compare-relation")).to_contain_text(
        f"#{rerun.pk} re-runs #{original.pk} from the step “Cooking instructions”"
    )
    changed = page.locator('[data-compare-node="instructions"]')
    expect(changed).to_have_attribute("data-changed", "true")
    expect(changed).to_have_class("is-changed")
    expect(changed.get_by_test_id("node-changed")).to_be_visible()
    diff = page.locator('[data-diff-node="instructions"]').get_by_test_id("output-diff")
    expect(diff.locator("del")).to_contain_text(["180"])
    expect(diff.locator("ins")).to_contain_text(["200"])
    research = page.locator('[data-compare-node="research"]')
    expect(research).to_have_attribute("data-changed", "false")
    expect(research).to_have_attribute("data-reused", "true")
    expect(page.get_by_test_id("cost-delta")).to_contain_text("Saved $")
    card = page.locator('[data-diff-node="instructions"]')
    expect(card.get_by_test_id("config-diff")).to_be_visible()  # the edit, next to its effect
    page.screenshot(path=str(artifacts / "runs-compare.png"), full_page=True)
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(artifacts / "checks-compare.png"))
    fits_1280(page)

    page.goto(f"/runs/{original.pk}/compare/{runs['copy'].pk}/")
    verdict = page.get_by_test_id("reproduce-verdict")
    expect(verdict).to_have_attribute("data-match", "true")
    expect(verdict).to_contain_text("Reproduced exactly: every output matched.")
    expect(page.locator('[data-changed="true"]')).to_have_count(0)
    page.screenshot(path=str(artifacts / "runs-compare-reproduce.png"))

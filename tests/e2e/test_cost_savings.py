# ruff: noqa: F811
"""In a real browser: the cost page shows what auto-routing saved (per day and in total, beside
the cache) and what evaluation judges spent, and an evaluation stopped by a used-up budget says
why on its page. The runs are made in this process through the scripted model server."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from costs.models import SpendBudget
from evals.dispatch import drive
from evals.services import evaluation_start
from tests.costs.test_routing_savings import USAGE, on_model, run_flow
from tests.evals.support import capitals_dataset, qa_flow
from tests.evals.test_judge_budgets import JUDGE, judge_replies
from tests.llmserver import text
from tests.runs.support import inline, memory_layer  # noqa: F401
from workspaces.models import Role

from .conftest import login

pytestmark = pytest.mark.e2e


def test_cost_page_routing_savings_and_a_stopped_evaluation(
    page, workspace, member, inline, settings, artifacts
):
    settings.SWITCHBOARD_PROVIDERS = {"openai": settings.SWITCHBOARD_PROVIDERS["openai"]}
    owner = member(Role.OWNER, "savings-e2e")
    judge_replies(inline)  # first: the rule below would answer the judge's calls too
    on_model(inline, "openai/gpt-4o-mini", text("Paris", usage=USAGE))
    for name in ("Triage", "Lookup"):
        run_flow(workspace, owner, {"model": "auto"}, name)
    flow = qa_flow(workspace, owner, name="Judged answers")
    dataset = capitals_dataset(workspace, owner, count=3)
    # Room for five answers and two judge calls: the third judge call would pass it.
    SpendBudget.objects.create(workspace=workspace, period="day", limit=Decimal("0.006"))
    evaluation = evaluation_start(
        user=owner, flow=flow, dataset=dataset, use_draft=True, scorers=JUDGE, concurrency=3
    )
    drive(evaluation.pk)

    login(page, owner)
    page.goto(f"/costs/?workspace={workspace.pk}&period=7d")
    routing = page.locator("[data-stat=routing]")
    expect(routing).to_contain_text("Saved by routing")
    expect(routing).to_contain_text("$0.0141")  # 2 × ($0.0075 on gpt-4o − $0.00045 spent)
    expect(routing).to_contain_text("2 auto-routed steps")
    expect(page.get_by_test_id("judge-spend")).to_contain_text("2 evaluation judge calls")
    savings = page.get_by_test_id("cost-savings")
    expect(savings.get_by_test_id("savings-day")).to_have_count(1)
    expect(page.get_by_test_id("cost-by-node")).to_contain_text("evaluation judge")
    page.screenshot(path=artifacts / "cost-page-savings.png", full_page=True)

    page.goto(f"/evals/evaluations/{evaluation.pk}/")
    stopped = page.get_by_test_id("evaluation-stopped")
    expect(stopped).to_contain_text("daily budget")
    expect(stopped).to_contain_text("is used up")
    expect(page.locator("#evaluation-results")).to_have_attribute("data-status", "stopped")
    page.screenshot(path=artifacts / "evaluation-stopped.png", full_page=True)

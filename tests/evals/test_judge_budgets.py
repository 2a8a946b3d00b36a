# ruff: noqa: F811
"""LLM-judge calls of evaluations spend like steps: each is checked against the workspace's and
the flow's spend budgets before it goes out, and counted in them (and on the cost page) after.
A budget that is used up stops the evaluation with its reason, whether a judge call or an
item's run met it."""

from decimal import Decimal

import pytest
from django.test import Client

from costs.models import SpendBudget, SpendDay
from evals.dispatch import drive
from evals.models import EvaluationItem, JudgeCall
from evals.services import evaluation_start
from runs.models import Run
from tests.llmserver import json_reply
from tests.runs.support import fast_passwords, inline, memory_layer  # noqa: F401
from workspaces.models import Role

from .support import capitals_dataset, qa_flow

JUDGE = [{"type": "judge", "rubric": "The answer names the capital.", "threshold": 0.5}]
# gpt-4o-mini at $0.15 / $0.60 per million tokens: $0.0021 a judge call.
JUDGE_USAGE = {"prompt_tokens": 10_000, "completion_tokens": 1_000}
JUDGE_COST = Decimal("0.0021")


@pytest.fixture
def owner(member):
    return member(Role.OWNER, "judge-owner")


def judge_replies(server):
    server.on(
        "You grade the answer",
        json_reply({"score": 0.9, "reason": "Names it."}, usage=JUDGE_USAGE),
    )


@pytest.mark.django_db(transaction=True)
def test_judge_calls_count_in_the_budgets_and_on_the_cost_page(inline, workspace, owner):
    judge_replies(inline)
    flow = qa_flow(workspace, owner)
    dataset = capitals_dataset(workspace, owner, count=2)
    evaluation = evaluation_start(
        user=owner, flow=flow, dataset=dataset, use_draft=True, scorers=JUDGE
    )
    drive(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded"

    calls = list(JudgeCall.objects.filter(evaluation=evaluation).order_by("pk"))
    assert len(calls) == 2 and {c.cost for c in calls} == {JUDGE_COST}
    assert {c.item_id for c in calls} == set(evaluation.items.values_list("pk", flat=True))
    assert calls[0].model == "openai/gpt-4o-mini" and calls[0].tokens_in == 10_000
    runs_cost = sum(Run.objects.filter(flow=flow).values_list("cost", flat=True), Decimal(0))
    day = SpendDay.objects.get(flow=flow)
    assert day.cost == runs_cost + 2 * JUDGE_COST
    assert day.calls == 4  # two answers, two judge calls
    items = list(evaluation.items.select_related("run"))
    assert all(i.cost == i.run.cost + JUDGE_COST for i in items)

    client = Client()
    client.force_login(owner)
    page = client.get(f"/costs/?workspace={workspace.pk}")
    totals = page.context["totals"]
    assert totals["judge_calls"] == 2 and totals["judge_cost"] == 2 * JUDGE_COST
    assert totals["cost"] == runs_cost + 2 * JUDGE_COST
    nodes = {row["node_id"]: row for row in page.context["by_node"]}
    assert nodes["evaluation judge"]["cost"] == 2 * JUDGE_COST
    assert nodes["evaluation judge"]["flow_name"] == flow.name
    flow_row = next(r for r in page.context["by_flow"] if r["flow_id"] == flow.pk)
    assert flow_row["cost"] == runs_cost + 2 * JUDGE_COST
    assert "2 evaluation judge calls" in page.content.decode()
    export = b"".join(
        client.get(f"/costs/export.csv?workspace={workspace.pk}").streaming_content
    ).decode()
    judge_line = next(line for line in export.splitlines() if ",evaluation judge," in line)
    assert ",openai/gpt-4o-mini,2,20000,2000,0.004200," in judge_line


@pytest.mark.django_db(transaction=True)
def test_a_budget_used_up_by_judging_stops_the_evaluation(inline, workspace, owner):
    judge_replies(inline)
    flow = qa_flow(workspace, owner)
    dataset = capitals_dataset(workspace, owner, count=3)
    # Room for the three answers and two judge calls; the third judge call would pass it.
    SpendBudget.objects.create(workspace=workspace, period="day", limit=Decimal("0.004"))
    evaluation = evaluation_start(
        user=owner, flow=flow, dataset=dataset, use_draft=True, scorers=JUDGE, concurrency=3
    )
    drive(evaluation.pk)
    evaluation.refresh_from_db()

    assert evaluation.status == "stopped" and evaluation.finished_at
    assert evaluation.stop_code == "budget_exceeded"
    assert evaluation.stop_reason.startswith("Judging stopped: The workspace's daily budget of")
    assert "is used up" in evaluation.stop_reason
    statuses = list(evaluation.items.order_by("position").values_list("status", flat=True))
    assert statuses == ["passed", "passed", "cancelled"]
    unscored = evaluation.items.get(position=3)
    assert unscored.error.startswith("Not scored: Judging stopped:") and unscored.passed is None
    assert JudgeCall.objects.filter(evaluation=evaluation).count() == 2
    judged = [r for r in inline.requests if "You grade the answer" in str(r["messages"])]
    assert len(judged) == 2  # the refused call never went out

    client = Client()
    client.force_login(owner)
    page = client.get(f"/evals/evaluations/{evaluation.pk}/").content.decode()
    assert 'data-testid="evaluation-stopped"' in page and "is used up" in page


@pytest.mark.django_db(transaction=True)
def test_a_flow_budget_refusing_an_items_run_stops_the_evaluation(inline, workspace, owner):
    flow = qa_flow(workspace, owner)
    dataset = capitals_dataset(workspace, owner, count=5)
    SpendBudget.objects.create(
        workspace=workspace, flow=flow, period="month", limit=Decimal("0.0001")
    )
    evaluation = evaluation_start(
        user=owner,
        flow=flow,
        dataset=dataset,
        use_draft=True,
        scorers=[{"type": "contains"}],
        concurrency=1,
    )
    drive(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "stopped" and evaluation.stop_code == "budget_exceeded"
    assert evaluation.stop_reason.startswith("The flow's monthly budget of $0.0001")
    # One run met the budget; nothing else was started.
    (run,) = Run.objects.filter(flow=flow)
    assert run.error_code == "budget_exceeded" and inline.call_count == 0
    statuses = list(EvaluationItem.objects.order_by("position").values_list("status", flat=True))
    assert statuses == ["failed", "cancelled", "cancelled", "cancelled", "cancelled"]

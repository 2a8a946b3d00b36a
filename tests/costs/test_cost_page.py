"""The cost page and its CSV: spend per day, flow, node and model from recorded steps, cache
savings, budgets with their spend, owners alone change budgets, foreign workspaces are 404."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from builder.models import Flow, FlowVersion
from costs.models import SpendBudget
from costs.services import spend_record
from runs.models import Run, Step
from tests.builder.graphs import base_graph
from workspaces.models import Role


def add_step(run, node_id, model, cost, *, days_ago=0, cache_saved=None, reused=False):
    created = timezone.now() - timedelta(days=days_ago)
    if not reused:  # what recording the step does (runs.services.advancing._record)
        spend_record(
            workspace_id=run.workspace_id,
            flow_id=run.flow_id,
            cost=Decimal(cost),
            saved=Decimal(str(cache_saved or 0)),
            calls=1,
            day=timezone.localdate(created),
        )
    return Step.objects.create(
        run=run,
        node_id=node_id,
        iteration=Step.objects.filter(run=run, node_id=node_id).count(),
        node_type="prompt",
        status="succeeded",
        model=model,
        cost=Decimal(cost),
        tokens_in=100,
        tokens_out=50,
        cache_hit=cache_saved is not None,
        details={"cache_saved_cost": cache_saved} if cache_saved is not None else {},
        reused=reused,
        created_at=created,
        finished_at=created,
    )


@pytest.fixture
def spend(workspace, member):
    owner = member(Role.OWNER, "cost-owner")
    flows = {}
    for name in ("Support triage", "=Blog writer"):
        flow = Flow.objects.create(workspace=workspace, name=name, graph=base_graph())
        version = FlowVersion.objects.create(flow=flow, number=1, graph=base_graph())
        flows[name] = (flow, Run.objects.create(flow=flow, version=version, workspace=workspace))
    triage, triage_run = flows["Support triage"]
    blog, blog_run = flows["=Blog writer"]
    add_step(triage_run, "classify", "openai/gpt-4o-mini", "0.010", days_ago=1)
    add_step(triage_run, "classify", "openai/gpt-4o-mini", "0", cache_saved=0.01)
    add_step(triage_run, "answer", "openai/gpt-4o", "0.200", days_ago=2)
    add_step(blog_run, "draft", "openai/gpt-4o", "0.500")
    add_step(blog_run, "draft", "openai/gpt-4o", "0.500", reused=True)  # a re-run's copy
    add_step(blog_run, "draft", "openai/gpt-4o", "9.000", days_ago=45)  # outside 30 days
    Step.objects.create(run=blog_run, node_id="check", node_type="tool", status="succeeded")
    return {"owner": owner, "triage": triage, "blog": blog}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_cost_page_aggregates_spend_by_flow_node_and_model(spend, workspace):
    page = client_for(spend["owner"]).get(f"/costs/?workspace={workspace.pk}")
    assert page.status_code == 200
    ctx = page.context
    assert ctx["totals"]["cost"] == Decimal("0.710")
    assert ctx["totals"]["calls"] == 4 and ctx["totals"]["cache_hits"] == 1
    assert ctx["totals"]["saved"] == pytest.approx(0.01)
    flows = {row["flow_name"]: row["cost"] for row in ctx["by_flow"]}
    assert flows == {"=Blog writer": Decimal("0.5"), "Support triage": Decimal("0.21")}
    models = {row["model"]: row["calls"] for row in ctx["by_model"]}
    assert models == {"openai/gpt-4o": 2, "openai/gpt-4o-mini": 2}
    nodes = [(row["node_id"], row["cost"]) for row in ctx["by_node"]]
    assert nodes[0] == ("draft", Decimal("0.5"))
    assert {n for n, _ in nodes} == {"draft", "answer", "classify"}
    html = page.content.decode()
    assert "Spend per day, by flow" in html and "<svg" in html
    assert ">Costs</a>" in html  # the nav link
    bars = ctx["chart"]["panel"].bars
    assert len(bars) == 3  # three days with spend in the window


def test_cost_page_period_changes_the_window(spend, workspace):
    page = client_for(spend["owner"]).get(f"/costs/?workspace={workspace.pk}&period=90d")
    assert page.context["totals"]["cost"] == Decimal("9.710")
    week = client_for(spend["owner"]).get("/costs/?period=nonsense")
    assert week.context["window"].key == "30d"


def test_cost_page_empty_state(workspace, member):
    viewer = member(Role.VIEWER, "cost-viewer")
    page = client_for(viewer).get("/costs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "No model spend last 30 days" in html
    assert 'data-testid="budget-form"' not in html  # viewers can't change budgets


def test_cost_export_is_csv_per_day_flow_node_and_model(spend, workspace):
    response = client_for(spend["owner"]).get(f"/costs/export.csv?workspace={workspace.pk}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("0.71")
    blog = [r for r in rows if r["node"] == "draft"]
    assert blog[0]["flow"] == "'=Blog writer"  # never read as a formula
    cached = [r for r in rows if r["cache_hits"] == "1"]
    assert cached[0]["cache_saved_usd"] == "0.010000"


def test_cost_page_foreign_workspace_is_404(spend, other_workspace, make_user):
    assert (
        client_for(spend["owner"]).get(f"/costs/?workspace={other_workspace.pk}").status_code == 404
    )
    assert (
        client_for(spend["owner"]).get("/costs/?workspace=99999999999999999999").status_code == 404
    )
    assert (
        client_for(spend["owner"])
        .get(f"/costs/export.csv?workspace={other_workspace.pk}")
        .status_code
        == 404
    )
    assert Client().get("/costs/").status_code == 302


def test_cost_page_budget_form_saves_and_shows_errors(spend, workspace, member):
    owner = client_for(spend["owner"])
    response = owner.post(
        "/costs/budgets/",
        {
            "workspace": workspace.pk,
            "flow": "",
            "period": "day",
            "limit": "0.80",
            "alert_percent": "50",
        },
        follow=True,
    )
    assert response.status_code == 200
    budget = SpendBudget.objects.get(workspace=workspace)
    assert budget.limit == Decimal("0.8") and budget.period == "day"
    html = response.content.decode()
    assert 'data-testid="budget-row"' in html
    # Today's 0.50 of 0.80 (62.5%) is past the 50% alert level: the page says so.
    assert "workspace&#x27;s daily budget is at 63% ($0.50 of $0.80)" in html

    bad = owner.post(
        "/costs/budgets/",
        {"workspace": workspace.pk, "period": "day", "limit": "lots"},
        follow=True,
    )
    assert "The limit must be an amount in dollars" in bad.content.decode()

    editor = client_for(member(Role.EDITOR, "cost-editor"))
    refused = editor.post(
        "/costs/budgets/", {"workspace": workspace.pk, "period": "day", "limit": "1"}
    )
    assert refused.status_code == 403
    gone = editor.post(f"/costs/budgets/{budget.pk}/delete/", {"workspace": workspace.pk})
    assert gone.status_code == 403
    assert (
        owner.post(f"/costs/budgets/{budget.pk}/delete/", {"workspace": workspace.pk}).status_code
        == 302
    )
    assert not SpendBudget.objects.exists()

# ruff: noqa: F811
"""Spend budgets per workspace and flow: the spend is the recorded step cost, kept per flow and
day in the step's own transaction; a model call that could take a budget past its limit is never
sent (the scripted server counts the requests it got), and past the alert level the run is told
once.

Each scripted answer costs (1000 * 2 + 250 * 8) / 1e6 = $0.004; before a call the guard counts
its worst case: the prompt (about four characters a token) and a full reply of max tokens
(512 * 8 / 1e6 = $0.0041).
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from builder.models import Flow
from config.domain import Invalid, NotAllowed
from costs.models import SpendBudget, SpendDay
from costs.services import SpendGuard, budget_save, budget_states
from runs.llm import LlmClient
from runs.models import Run, RunEvent, Step
from runs.services import run_start
from runs.services.ports import reset_llm_client
from tests.llmserver import text
from tests.runs.support import fast_passwords, finish_inline, inline, memory_layer  # noqa: F401
from tests.runs.test_budgets import GRAPH, PRICES, USAGE
from workspaces.models import Role

CALL_COST = Decimal("0.004")


@pytest.fixture
def priced(inline, settings):
    providers = {name: dict(config) for name, config in settings.SWITCHBOARD_PROVIDERS.items()}
    providers["openai"]["models"] = PRICES
    settings.SWITCHBOARD_PROVIDERS = providers
    reset_llm_client()
    inline.on("Outline an essay", text("1. Roots 2. Branches", usage=USAGE))
    inline.on("Write the essay", text("Trees grow from roots to branches.", usage=USAGE))
    return inline


@pytest.fixture
def owner(member):
    return member(Role.OWNER, "spend-owner")


@pytest.fixture
def essay(workspace, owner):
    return Flow.objects.create(workspace=workspace, name="Essay", graph=GRAPH, created_by=owner)


def run_essay(flow: Flow, owner) -> Run:
    return finish_inline(run_start(user=owner, flow=flow, inputs={"topic": "trees"}), owner)


def test_spend_workspace_budget_stops_the_run_before_the_call_that_would_exceed_it(
    priced, essay, owner, workspace
):
    budget_save(user=owner, workspace_id=workspace.pk, flow_id=None, period="day", limit="0.006")

    run = run_essay(essay, owner)

    assert priced.call_count == 1  # the essay's call was never sent
    assert run.status == "failed" and run.error_code == "budget_exceeded"
    assert "workspace's daily budget of $0.0060 is used up" in run.error_message
    assert "$0.0040 spent today" in run.error_message
    essay_step = Step.objects.get(run=run, node_id="essay")
    assert essay_step.status == "failed" and essay_step.error_code == "budget_exceeded"
    assert essay_step.cost == 0
    last = RunEvent.objects.filter(run=run).order_by("seq").last()
    assert last.kind == "run.failed" and last.data["code"] == "budget_exceeded"


def test_spend_counter_is_the_recorded_step_cost_and_a_spent_budget_refuses_the_first_call(
    priced, essay, owner, workspace
):
    first = run_essay(essay, owner)
    second = run_essay(essay, owner)
    assert first.status == second.status == "succeeded"
    assert priced.call_count == 4

    day = SpendDay.objects.get(flow=essay, day=timezone.localdate())
    recorded = Step.objects.filter(run__flow=essay).aggregate(total=Sum("cost"))["total"]
    assert day.cost == recorded == CALL_COST * 4
    assert day.calls == 4 and day.workspace_id == workspace.pk

    budget_save(user=owner, workspace_id=workspace.pk, flow_id=None, period="month", limit="0.016")
    third = run_essay(essay, owner)
    assert priced.call_count == 4
    assert third.error_code == "budget_exceeded"
    assert "monthly budget of $0.0160 is used up: $0.0160 spent this month." in third.error_message


def test_spend_flow_budget_stops_only_its_flow(priced, essay, owner, workspace):
    other = Flow.objects.create(workspace=workspace, name="Other essay", graph=GRAPH)
    budget_save(
        user=owner, workspace_id=workspace.pk, flow_id=other.pk, period="day", limit="0.005"
    )
    run_essay(other, owner)  # spends its first call, then stops
    assert priced.call_count == 1

    run = run_essay(essay, owner)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert priced.call_count == 3
    [state] = budget_states(workspace_id=workspace.pk, flow_id=other.pk)
    assert state.spent == CALL_COST  # the other flow's spend does not count against it


def test_spend_alert_is_an_event_on_the_run_once_per_budget(priced, essay, owner, workspace):
    budget_save(
        user=owner,
        workspace_id=workspace.pk,
        flow_id=None,
        period="day",
        limit="0.010",
        alert_percent=30,
    )
    run = run_essay(essay, owner)

    assert run.status == "succeeded", (run.error_code, run.error_message)
    alerts = list(RunEvent.objects.filter(run=run, kind="budget.alert"))
    assert len(alerts) == 1  # 40% after the outline, 80% after the essay: told once
    assert alerts[0].node_id == "outline"
    assert alerts[0].data["percent"] == 40.0 and alerts[0].data["scope"] == "workspace"
    assert "workspace's daily budget is at 40%" in alerts[0].data["message"]


def test_spend_no_alert_below_the_level(priced, essay, owner, workspace):
    budget_save(user=owner, workspace_id=workspace.pk, flow_id=None, period="day", limit="1")
    run = run_essay(essay, owner)
    assert run.status == "succeeded"
    assert not RunEvent.objects.filter(run=run, kind="budget.alert").exists()


def test_spend_guard_check_without_budgets_is_one_probe(priced, essay, workspace):
    guard = SpendGuard(
        LlmClient(), workspace_id=workspace.pk, flow_id=essay.pk, default_model="openai/gpt-4o-mini"
    )
    with CaptureQueriesContext(connection) as captured:
        reply = guard.chat(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "Outline an essay about oaks."}],
        )
    assert reply.content == "1. Roots 2. Branches"
    [probe] = [q["sql"] for q in captured.captured_queries]
    assert "costs_spendbudget" in probe and "LIMIT 1" in probe
    assert guard.spent_here == CALL_COST


def test_spend_guard_check_is_two_queries_per_call(priced, essay, workspace, owner):
    budget_save(user=owner, workspace_id=workspace.pk, flow_id=None, period="day", limit="5")
    budget_save(user=owner, workspace_id=workspace.pk, flow_id=essay.pk, period="month", limit="5")
    guard = SpendGuard(
        LlmClient(), workspace_id=workspace.pk, flow_id=essay.pk, default_model="openai/gpt-4o-mini"
    )
    with CaptureQueriesContext(connection) as captured:
        reply = guard.chat(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "Outline an essay about oaks."}],
        )
    assert reply.content == "1. Roots 2. Branches"
    # The probe for budgets, then their spend in one query.
    assert len(captured.captured_queries) == 2
    assert guard.spent_here == CALL_COST


def test_spend_budgets_are_changed_by_owners_only(member, workspace, essay):
    editor = member(Role.EDITOR, "spend-editor")
    with pytest.raises(NotAllowed):
        budget_save(user=editor, workspace_id=workspace.pk, flow_id=None, period="day", limit="1")
    owner = member(Role.OWNER, "spend-owner-2")
    for limit in ("", "-1", "abc", "0", "1e12", "NaN"):
        with pytest.raises(Invalid):
            budget_save(
                user=owner, workspace_id=workspace.pk, flow_id=None, period="day", limit=limit
            )
    with pytest.raises(Invalid):
        budget_save(
            user=owner,
            workspace_id=workspace.pk,
            flow_id=None,
            period="day",
            limit="1",
            alert_percent="150",
        )
    budget = budget_save(
        user=owner, workspace_id=workspace.pk, flow_id=None, period="day", limit="$2.50"
    )
    again = budget_save(
        user=owner, workspace_id=workspace.pk, flow_id=None, period="day", limit="3"
    )
    assert again.pk == budget.pk and again.limit == Decimal("3")
    assert SpendBudget.objects.filter(workspace=workspace).count() == 1


def test_spend_cache_hits_record_what_they_saved(priced, workspace, owner):
    graph = {
        **GRAPH,
        "nodes": [
            {**node, "config": {**node["config"], "cache": True}}
            if node["type"] == "prompt"
            else node
            for node in GRAPH["nodes"]
        ],
    }
    flow = Flow.objects.create(workspace=workspace, name="Cached essay", graph=graph)
    first = run_essay(flow, owner)
    second = run_essay(flow, owner)
    assert first.status == second.status == "succeeded"
    assert priced.call_count == 2  # the second run was answered from the cache

    hits = Step.objects.filter(run=second, cache_hit=True)
    assert hits.count() == 2
    assert all(step.cost == 0 and step.details["cache_saved_cost"] == 0.004 for step in hits)
    day = SpendDay.objects.get(flow=flow)
    assert day.cost == CALL_COST * 2 and day.saved == CALL_COST * 2 and day.calls == 4

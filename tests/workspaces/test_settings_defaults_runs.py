"""Workspace defaults apply to real runs: the default model reaches the scripted server through
the openai SDK, and the default budgets stop a run that starts without its own."""

import pytest

from builder.models import Flow
from runs.models import Step
from runs.services import run_start
from runs.services.ports import reset_llm_client
from tests.llmserver import text
from tests.runs.support import fast_passwords, finish_inline, inline, memory_layer  # noqa: F401
from tests.runs.test_budgets import CALL_TOKENS, GRAPH, PRICES, USAGE
from workspaces.models import Role
from workspaces.services import workspace_defaults_update


@pytest.fixture
def scripted(inline, settings):  # noqa: F811
    providers = {name: dict(config) for name, config in settings.SWITCHBOARD_PROVIDERS.items()}
    providers["openai"]["models"] = {**PRICES, "gpt-4o": PRICES["gpt-4o-mini"]}
    settings.SWITCHBOARD_PROVIDERS = providers
    reset_llm_client()
    inline.on("Outline an essay", text("1. Roots 2. Branches", usage=USAGE))
    inline.on("Write the essay", text("Trees grow from roots to branches.", usage=USAGE))
    return inline


@pytest.fixture
def essay(member, workspace):
    owner = member(Role.OWNER, "defaults-owner")
    flow = Flow.objects.create(workspace=workspace, name="Essay", graph=GRAPH, created_by=owner)
    return flow, owner


def set_defaults(owner, workspace, *, model="", max_cost=None, max_tokens=None) -> None:
    workspace_defaults_update(
        actor=owner,
        workspace_id=workspace.pk,
        default_model=model,
        max_cost=max_cost,
        max_tokens=max_tokens,
    )


def start(flow, owner, **kwargs):
    flow.refresh_from_db()  # the workspace row as the API loads it (flow_get)
    return run_start(user=owner, flow=flow, inputs={"topic": "trees"}, **kwargs)


def test_the_workspace_default_model_is_used_by_prompts_without_one(scripted, essay, workspace):
    flow, owner = essay
    set_defaults(owner, workspace, model="openai/gpt-4o")
    run = finish_inline(start(flow, owner), owner)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.default_model == "openai/gpt-4o"
    assert {s.model for s in Step.objects.filter(run=run, node_type="prompt")} == {"openai/gpt-4o"}
    assert [r["model"] for r in scripted.requests] == ["gpt-4o", "gpt-4o"]


def test_without_a_workspace_default_the_servers_model_is_used(scripted, essay):
    flow, owner = essay
    run = finish_inline(start(flow, owner), owner)
    assert run.status == "succeeded" and run.default_model == ""
    assert [r["model"] for r in scripted.requests] == ["gpt-4o-mini", "gpt-4o-mini"]


def test_a_change_of_the_default_does_not_change_a_run_already_started(scripted, essay, workspace):
    flow, owner = essay
    set_defaults(owner, workspace, model="openai/gpt-4o")
    run = start(flow, owner)
    set_defaults(owner, workspace, model="openai/gpt-4o-mini")
    run = finish_inline(run, owner)
    assert [r["model"] for r in scripted.requests] == ["gpt-4o", "gpt-4o"]


def test_the_workspace_token_budget_stops_a_run_started_without_its_own(scripted, essay, workspace):
    flow, owner = essay
    set_defaults(owner, workspace, max_tokens=CALL_TOKENS)
    run = finish_inline(start(flow, owner), owner)
    assert run.status == "failed" and run.error_code == "budget_exceeded"
    assert f"limit of {CALL_TOKENS} tokens" in run.error_message
    assert run.budgets["max_tokens"] == CALL_TOKENS
    assert scripted.call_count == 1


def test_the_workspace_cost_budget_stops_a_run(scripted, essay, workspace):
    flow, owner = essay
    set_defaults(owner, workspace, max_cost=0.004)
    run = finish_inline(start(flow, owner), owner)
    assert run.status == "failed" and "cost limit of $0.004" in run.error_message


def test_a_run_with_its_own_budget_keeps_it(scripted, essay, workspace):
    flow, owner = essay
    set_defaults(owner, workspace, max_tokens=CALL_TOKENS, max_cost=0.004)
    # Its own limits (even "no limit", as null) win over the workspace's.
    run = finish_inline(start(flow, owner, budgets={"max_tokens": None, "max_cost": 1.0}), owner)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.budgets["max_tokens"] is None and run.budgets["max_cost"] == 1.0
    assert scripted.call_count == 2


def test_defaults_apply_to_runs_started_over_the_api(scripted, essay, workspace, api_for):
    from runs.models import Run

    flow, owner = essay
    set_defaults(owner, workspace, model="openai/gpt-4o", max_tokens=CALL_TOKENS)
    response = api_for(owner, token=True).post(
        f"/api/flows/{flow.pk}/runs", {"inputs": {"topic": "trees"}, "use_draft": True}
    )
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.default_model == "openai/gpt-4o" and run.budgets["max_tokens"] == CALL_TOKENS
    run = finish_inline(run, owner)
    assert run.error_code == "budget_exceeded"
    assert [r["model"] for r in scripted.requests] == ["gpt-4o"]


def test_applying_the_defaults_costs_the_run_start_no_statement(essay, workspace):
    """The workspace row comes with the flow (`flow_get` joins it): reading its defaults adds no
    query to starting a run (the same count with or without defaults: 7, the run inserted with its
    first event's seq)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from builder.services import flow_get

    flow, owner = essay
    first = run_start(user=owner, flow=flow, inputs={"topic": "t"}, use_draft=True)

    def statements() -> int:
        loaded = flow_get(user=owner, flow_id=flow.pk, permission="run")
        with CaptureQueriesContext(connection) as queries:
            run_start(user=owner, flow=loaded, inputs={"topic": "t"}, version=first.version.number)
        return len(queries.captured_queries)

    without = statements()
    set_defaults(owner, workspace, model="openai/gpt-4o", max_cost=1.0, max_tokens=500)
    assert statements() == without == 7

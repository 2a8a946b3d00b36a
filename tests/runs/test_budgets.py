"""Run budgets in the database: a run whose recorded cost, tokens or steps reach its limit fails
with budget_exceeded before the next step starts; a run under its budgets finishes.

The model is the scripted OpenAI-compatible server, reached through the real openai SDK; the cost
comes from the provider price table below and the usage the server reports, so a service that
recorded a cost of 0 (or no tokens) would let the second step run and fail these tests."""

from decimal import Decimal

import pytest

from builder.models import Flow
from runs.models import Run, RunEvent, Step
from runs.services import run_start
from runs.services.ports import reset_llm_client
from tests.llmserver import text
from workspaces.models import Role

from .support import fast_passwords, finish_inline, inline, memory_layer  # noqa: F401

# USD per million tokens; each scripted answer below costs (1000 * 2 + 250 * 8) / 1e6 = $0.004.
PRICES = {"gpt-4o-mini": {"input": 2.0, "output": 8.0}}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 250}
CALL_COST = Decimal("0.004")
CALL_TOKENS = 1250

GRAPH = {
    "schema_version": 1,
    "nodes": [
        {
            "id": "topic",
            "type": "input",
            "position": {"x": 0, "y": 0},
            "config": {"schema": {"type": "object", "properties": {"topic": {"type": "string"}}}},
        },
        {
            "id": "outline",
            "type": "prompt",
            "position": {"x": 240, "y": 0},
            "config": {"prompt": "Outline an essay about {{ inputs.topic }}."},
        },
        {
            "id": "essay",
            "type": "prompt",
            "position": {"x": 480, "y": 0},
            "config": {"prompt": "Write the essay from this outline: {{ nodes.outline.output }}"},
        },
        {"id": "done", "type": "output", "position": {"x": 720, "y": 0}, "config": {}},
    ],
    "edges": [
        {"id": "e1", "source": "topic", "target": "outline"},
        {"id": "e2", "source": "outline", "target": "essay"},
        {"id": "e3", "source": "essay", "target": "done"},
    ],
}


@pytest.fixture
def priced(inline, settings):  # noqa: F811
    """The scripted server with a price table of our own, every answer with the same usage."""
    providers = {name: dict(config) for name, config in settings.SWITCHBOARD_PROVIDERS.items()}
    providers["openai"]["models"] = PRICES
    settings.SWITCHBOARD_PROVIDERS = providers
    reset_llm_client()
    inline.on("Outline an essay", text("1. Roots 2. Branches", usage=USAGE))
    inline.on("Write the essay", text("Trees grow from roots to branches.", usage=USAGE))
    return inline


@pytest.fixture
def essay_flow(member, workspace):
    owner = member(Role.OWNER, "budget-owner")
    flow = Flow.objects.create(workspace=workspace, name="Essay", graph=GRAPH, created_by=owner)
    return flow, owner


def run_with(essay_flow, **budgets) -> Run:
    flow, owner = essay_flow
    run = run_start(user=owner, flow=flow, inputs={"topic": "trees"}, budgets=budgets)
    return finish_inline(run, owner)


def assert_stopped_after_the_outline(run: Run, llm) -> None:
    assert run.status == "failed", (run.error_code, run.error_message)
    assert run.error_code == "budget_exceeded"
    outline = Step.objects.get(run=run, node_id="outline")
    assert outline.status == "succeeded"
    assert not Step.objects.filter(run=run, node_id="essay").exists()
    assert llm.call_count == 1
    failed = RunEvent.objects.filter(run=run).order_by("seq").last()
    assert failed.kind == "run.failed" and failed.data["code"] == "budget_exceeded"


def test_budget_cost_reached_by_the_first_step_stops_the_run_before_the_next(priced, essay_flow):
    run = run_with(essay_flow, max_cost=float(CALL_COST))

    assert_stopped_after_the_outline(run, priced)
    outline = Step.objects.get(run=run, node_id="outline")
    assert outline.model == "openai/gpt-4o-mini"
    assert outline.cost == CALL_COST
    assert run.cost == CALL_COST
    assert "cost limit of $0.004" in run.error_message


def test_budget_tokens_reached_by_the_first_step_stops_the_run_before_the_next(priced, essay_flow):
    run = run_with(essay_flow, max_tokens=CALL_TOKENS)

    assert_stopped_after_the_outline(run, priced)
    outline = Step.objects.get(run=run, node_id="outline")
    assert (outline.tokens_in, outline.tokens_out) == (1000, 250)
    assert run.tokens_in + run.tokens_out == CALL_TOKENS
    assert f"limit of {CALL_TOKENS} tokens" in run.error_message


def test_budget_steps_reached_stops_the_run_before_the_next_step(priced, essay_flow):
    # The input and the outline are the run's first two steps.
    run = run_with(essay_flow, max_steps=2)

    assert_stopped_after_the_outline(run, priced)
    assert run.step_count == 2
    assert "limit of 2 steps" in run.error_message


def test_budget_a_run_under_its_budgets_succeeds(priced, essay_flow):
    run = run_with(
        essay_flow,
        max_cost=float(CALL_COST * 2) + 0.001,
        max_tokens=CALL_TOKENS * 2 + 1,
        max_steps=4,
    )

    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.result == {"result": "Trees grow from roots to branches."}
    assert priced.call_count == 2
    assert run.cost == CALL_COST * 2
    assert run.tokens_in + run.tokens_out == CALL_TOKENS * 2
    assert run.step_count == 4

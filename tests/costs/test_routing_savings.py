"""Routing savings on real runs through the scripted model server: an auto-routed step records
what its answer would have cost on the strongest model its node allows (catalogue prices ×
the tokens recorded), and the cost page and its CSV show that less what the step spent, per day
and in total, beside cache savings."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from builder.models import Flow
from runs.executor import InlineExecutor
from runs.models import Step
from runs.services import run_start
from tests.llmserver import text
from tests.runs.engine.graphs import edge, graph, node, prompt
from tests.runs.support import fast_passwords, inline, memory_layer  # noqa: F401
from workspaces.models import Role

pytestmark = pytest.mark.usefixtures("inline")

SMALL, MEDIUM, LARGE = "openai/gpt-4o-mini", "openai/gpt-4.1-mini", "openai/gpt-4o"
# USD per million tokens (input, output), from settings.SWITCHBOARD_PROVIDERS.
PRICES = {SMALL: (0.15, 0.60), MEDIUM: (0.40, 1.60), LARGE: (2.50, 10.00)}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500}
NAMES_PARIS = [{"kind": "contains", "value": "Paris", "message": "name the city"}]


def price(model: str, tokens_in: int = 1000, tokens_out: int = 500) -> float:
    rate_in, rate_out = PRICES[model]
    return (tokens_in * rate_in + tokens_out * rate_out) / 1_000_000


@pytest.fixture(autouse=True)
def scripted_models_only(llm_server, settings):
    settings.SWITCHBOARD_PROVIDERS = {"openai": settings.SWITCHBOARD_PROVIDERS["openai"]}


def on_model(server, model: str, reply) -> None:
    name = model.split("/")[1]
    server.on(lambda request: request.get("model") == name, reply)


def run_flow(workspace, user, config: dict, name: str) -> Step:
    document = graph(
        [
            node("in", "input"),
            prompt("ask", "What is the capital of {{ inputs.question }}?", **config),
            node("out", "output"),
        ],
        [edge("in", "ask"), edge("ask", "out")],
    )
    flow = Flow.objects.create(workspace=workspace, name=name, graph=document)
    run = run_start(user=user, flow=flow, inputs={"question": "France"}, use_draft=True)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    return Step.objects.get(run=run, node_id="ask")


@pytest.fixture
def owner(member):
    return member(Role.OWNER, "savings-owner")


@pytest.mark.django_db(transaction=True)
def test_routed_steps_record_the_strongest_models_cost_and_the_saving(workspace, owner, llm_server):
    on_model(llm_server, SMALL, text("Lyon", usage=USAGE))
    on_model(llm_server, MEDIUM, text("Paris", usage=USAGE))
    on_model(llm_server, LARGE, text("Paris", usage=USAGE))

    # A lookup goes to the small model: the same answer on the large one costs 16.7× more.
    plain = run_flow(workspace, owner, {"model": "auto"}, "plain")
    assert plain.model == SMALL and plain.details["routing"]["strongest"] == LARGE
    assert plain.details["routing_strongest_cost"] == pytest.approx(price(LARGE))
    assert plain.details["routing_saved_cost"] == pytest.approx(price(LARGE) - price(SMALL))

    # The small answer fails its check: the step pays for two attempts; the answer kept is the
    # medium model's, priced on the large one.
    cascaded = run_flow(workspace, owner, {"model": "auto", "escalate_on": NAMES_PARIS}, "cascade")
    assert [a["model"] for a in cascaded.details["routing"]["attempts"]] == [SMALL, MEDIUM]
    spent = price(SMALL) + price(MEDIUM)
    assert float(cascaded.cost) == pytest.approx(spent)
    assert cascaded.details["routing_saved_cost"] == pytest.approx(price(LARGE) - spent)

    # The node allows at most the medium tier: that is its strongest model.
    capped = run_flow(workspace, owner, {"model": "auto", "max_tier": "medium"}, "capped")
    assert capped.details["routing"]["strongest"] == MEDIUM
    assert capped.details["routing_saved_cost"] == pytest.approx(price(MEDIUM) - price(SMALL))

    # Escalated all the way: cheap attempt wasted, the saving is negative and says so.
    llm_server.reset()
    on_model(llm_server, SMALL, text("Lyon", usage=USAGE))
    on_model(llm_server, MEDIUM, text("Lyon", usage=USAGE))
    on_model(llm_server, LARGE, text("Paris", usage=USAGE))
    top = run_flow(workspace, owner, {"model": "auto", "escalate_on": NAMES_PARIS}, "top")
    assert top.model == LARGE
    assert top.details["routing_saved_cost"] == pytest.approx(-(price(SMALL) + price(MEDIUM)))

    # A fixed model is not routed: nothing to compare with.
    fixed = run_flow(workspace, owner, {"model": SMALL}, "fixed")
    assert "routing_saved_cost" not in fixed.details

    expected_saved = sum(s.details["routing_saved_cost"] for s in (plain, cascaded, capped, top))
    expected_strongest = sum(
        s.details["routing_strongest_cost"] for s in (plain, cascaded, capped, top)
    )
    client = Client()
    client.force_login(owner)
    page = client.get(f"/costs/?workspace={workspace.pk}&period=7d")
    assert page.status_code == 200
    totals = page.context["totals"]
    assert totals["routed"] == 4
    assert totals["routing_saved"] == pytest.approx(expected_saved)
    assert totals["strongest_cost"] == pytest.approx(expected_strongest)
    (today,) = page.context["savings"]
    assert today["routing_saved"] == pytest.approx(expected_saved)
    assert today["cost"] == pytest.approx(float(totals["cost"]))
    html = page.content.decode()
    assert "Saved by routing" in html and 'data-testid="savings-day"' in html
    by_flow = {row["flow_name"]: row for row in page.context["by_flow"]}
    assert by_flow["plain"]["routing_saved"] == pytest.approx(price(LARGE) - price(SMALL))
    assert by_flow["fixed"]["routed"] == 0

    export = client.get(f"/costs/export.csv?workspace={workspace.pk}&period=7d")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sum(float(r["routing_saved_usd"]) for r in rows) == pytest.approx(
        expected_saved, abs=1e-5
    )
    plain_row = next(r for r in rows if r["flow"] == "plain")
    assert plain_row["routed_calls"] == "1"
    assert float(plain_row["strongest_model_usd"]) == pytest.approx(price(LARGE), abs=1e-6)


@pytest.mark.django_db(transaction=True)
def test_a_cached_routed_answer_counts_as_cache_saving_not_twice(workspace, owner, llm_server):
    on_model(llm_server, SMALL, text("Paris", usage=USAGE))
    first = run_flow(workspace, owner, {"model": "auto", "cache": True}, "cached")
    flow = Flow.objects.get(name="cached")
    run = run_start(user=owner, flow=flow, inputs={"question": "France"}, use_draft=True)
    InlineExecutor().advance(run.pk)
    again = Step.objects.get(run=run, node_id="ask")
    assert again.cache_hit and float(again.cost) == 0
    assert again.details["cache_saved_cost"] == pytest.approx(price(SMALL))
    # A cached answer records no tokens: its saving is the cache's, and routing adds nothing.
    assert again.details["routing_strongest_cost"] == 0
    assert again.details["routing_saved_cost"] == 0
    assert first.details["routing_saved_cost"] == pytest.approx(price(LARGE) - price(SMALL))
    client = Client()
    client.force_login(owner)
    totals = client.get(f"/costs/?workspace={workspace.pk}").context["totals"]
    assert totals["saved"] == pytest.approx(price(SMALL))
    assert totals["routing_saved"] == pytest.approx(price(LARGE) - price(SMALL))


@pytest.mark.django_db(transaction=True)
def test_a_pass_sent_back_by_an_evaluator_counts_the_strongest_answer_once(
    workspace, owner, llm_server
):
    """An evaluator's loop cascades across steps: the rejected cheap pass and the large one that
    replaced it together save what one large answer costs less both passes, not two savings."""
    on_model(llm_server, SMALL, text("Lyon", usage=USAGE))
    on_model(llm_server, MEDIUM, text("Lyon", usage=USAGE))
    on_model(llm_server, LARGE, text("Paris", usage=USAGE))
    check = node("check", "evaluator", rules=NAMES_PARIS, max_attempts=3)
    document = graph(
        [
            node("in", "input"),
            prompt("ask", "What is the capital of {{ inputs.question }}?", model="auto"),
            check,
            node("out", "output"),
        ],
        [
            edge("in", "ask"),
            edge("ask", "check"),
            edge("check", "out", "pass"),
            edge("check", "ask", "fail"),
        ],
    )
    flow = Flow.objects.create(workspace=workspace, name="looped", graph=document)
    run = run_start(user=owner, flow=flow, inputs={"question": "France"}, use_draft=True)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    passes = list(Step.objects.filter(run=run, node_id="ask").order_by("iteration"))
    assert [s.model for s in passes] == [SMALL, MEDIUM, LARGE]
    assert passes[0].details["routing_strongest_cost"] == pytest.approx(price(LARGE))
    assert [s.details["routing_strongest_cost"] for s in passes[1:]] == [0, 0]
    spent = price(SMALL) + price(MEDIUM) + price(LARGE)
    saved = sum(s.details["routing_saved_cost"] for s in passes)
    assert saved == pytest.approx(price(LARGE) - spent)  # negative: climbing cost more
    client = Client()
    client.force_login(owner)
    totals = client.get(f"/costs/?workspace={workspace.pk}&period=7d").context["totals"]
    assert totals["strongest_cost"] == pytest.approx(price(LARGE))
    assert totals["routing_saved"] == pytest.approx(price(LARGE) - spent)

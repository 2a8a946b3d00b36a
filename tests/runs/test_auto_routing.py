"""`model: auto` on real runs: the router's choice and reasons on the step, the cascade up the
tiers when the evaluator or the output schema fails, validation, reproduce, and the fallback
for malformed tool-call JSON. The models are the scripted server's, addressed by name."""

from __future__ import annotations

import pytest

from builder.models import Flow
from builder.services import flow_validate
from runs.executor import InlineExecutor
from runs.models import RunEvent, Step
from runs.services import run_start
from runs.services.reruns import run_reproduce
from tests.llmserver import json_reply, text, tool_call
from vault.models import Provider, ProviderModel
from vault.services import model_catalogue

from .engine.graphs import edge, graph, node, prompt
from .support import fast_passwords, inline, memory_layer  # noqa: F401

# Runs execute inline (in the call that starts them); `llm_server` is the scripted server.
pytestmark = pytest.mark.usefixtures("inline")

SMALL, MEDIUM, LARGE = "gpt-4o-mini", "gpt-4.1-mini", "gpt-4o"
LOOKUP = "What is the capital of {{ inputs.question }}?"


@pytest.fixture(autouse=True)
def scripted_models_only(llm_server, settings):
    """The catalogue is the scripted server's three models (no local model to start)."""
    settings.SWITCHBOARD_PROVIDERS = {"openai": settings.SWITCHBOARD_PROVIDERS["openai"]}


def on_model(server, model: str, reply) -> None:
    server.on(lambda request, m=model: request.get("model") == m, reply)


def models_asked(server) -> list[str]:
    return [request["model"] for request in server.requests]


def run_flow(workspace, user, document, question="France"):
    flow = Flow.objects.create(workspace=workspace, name="auto", graph=document)
    run = run_start(user=user, flow=flow, inputs={"question": question}, use_draft=True)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def single(config: dict, text_: str = LOOKUP):
    return graph(
        [node("in", "input"), prompt("ask", text_, **config), node("out", "output")],
        [edge("in", "ask"), edge("ask", "out")],
    )


def loop(max_attempts: int, **config):
    return graph(
        [
            node("in", "input"),
            prompt("ask", LOOKUP + " {{ feedback }}", model="auto", **config),
            node(
                "check",
                "evaluator",
                rules=[{"kind": "contains", "value": "Paris", "message": "name the city"}],
                max_attempts=max_attempts,
            ),
            node("out", "output"),
        ],
        [
            edge("in", "ask"),
            edge("ask", "check"),
            edge("check", "out", "pass"),
            edge("check", "ask", "fail"),
        ],
    )


def test_catalogue_has_the_servers_and_the_workspaces_models(workspace, settings):
    provider = Provider.objects.create(workspace=workspace, name="acme", base_url="https://x.io/v1")
    ProviderModel.objects.create(
        provider=provider, name="tiny", input_price=0.01, output_price=0.02, tier="small"
    )
    ProviderModel.objects.create(
        provider=provider,
        name="huge",
        input_price=5,
        output_price=20,
        tier="large",
        context_window=200_000,
    )
    providers = {name: dict(cfg) for name, cfg in settings.SWITCHBOARD_PROVIDERS.items()}
    providers["extra"] = {"base_url": "https://y.io/v1", "models": {"dear": {"output": 30}}}
    settings.SWITCHBOARD_PROVIDERS = providers
    catalogue = {m.name: m for m in model_catalogue(workspace.pk)}
    assert catalogue["acme/tiny"].tier == "small" and catalogue["acme/huge"].tier == "large"
    assert catalogue["acme/huge"].context_window == 200_000
    assert catalogue["openai/gpt-4o"].tier == "large"  # named in settings
    assert catalogue["openai/gpt-4o-mini"].input_price == 0.15
    assert catalogue["extra/dear"].tier == "large"  # no tier given: by its price
    ranks = [m.rank for m in model_catalogue(workspace.pk)]
    assert ranks == sorted(ranks)
    # Another workspace does not see this one's providers.
    assert "acme/tiny" not in {m.name for m in model_catalogue(None)}


def test_a_lookup_routes_to_the_small_model_and_records_why(workspace, member, llm_server):
    user = member("editor")
    run = run_flow(workspace, user, single({"model": "auto"}))
    assert run.status == "succeeded", run.error_message
    assert models_asked(llm_server) == [SMALL]
    step = Step.objects.get(run=run, node_id="ask")
    routing = step.details["routing"]
    assert routing["chose"] == f"openai/{SMALL}" and routing["tier"] == "small"
    assert routing["reasons"] and "lookup" in routing["reasons"][0]
    assert f"openai/{LARGE}" in routing["candidates"]
    assert routing["attempts"][0]["model"] == f"openai/{SMALL}"
    assert step.model == f"openai/{SMALL}"
    event = RunEvent.objects.get(run=run, node_id="ask", kind="step.succeeded")
    assert event.data["routing"]["chose"] == f"openai/{SMALL}"


def test_a_hard_request_routes_to_the_large_model(workspace, member, llm_server):
    user = member("editor")
    hard = "Solve step by step and prove it: 3x + 5 = {{ inputs.question }}. Then implement it."
    run = run_flow(workspace, user, single({"model": "auto"}, hard), question="20")
    assert run.status == "succeeded", run.error_message
    assert models_asked(llm_server) == [LARGE]


def test_candidates_and_max_tier_restrict_the_choice(workspace, member, llm_server):
    user = member("editor")
    config = {
        "model": "auto",
        "candidates": [f"openai/{MEDIUM}", f"openai/{LARGE}"],
        "max_tier": "medium",
    }
    hard = "Solve step by step and prove it: 3x + 5 = 20. Then implement it in Python."
    run = run_flow(workspace, user, single(config, hard))
    assert run.status == "succeeded", run.error_message
    assert models_asked(llm_server) == [MEDIUM]
    routing = Step.objects.get(run=run, node_id="ask").details["routing"]
    assert routing["candidates"] == [f"openai/{MEDIUM}"]


def test_the_run_page_shows_the_choice(workspace, member, llm_server, client):
    user = member("editor")
    run = run_flow(workspace, user, single({"model": "auto"}))
    client.force_login(user)
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert f"auto → openai/{SMALL} (small)" in html
    assert "data-step-routing" in html


def test_no_escalation_when_the_evaluator_passes(workspace, member, llm_server):
    user = member("editor")
    on_model(llm_server, SMALL, text("Paris"))
    run = run_flow(workspace, user, loop(3))
    assert run.status == "succeeded"
    assert models_asked(llm_server) == [SMALL]


def test_an_evaluator_failure_retries_on_the_next_tier(workspace, member, llm_server):
    user = member("editor")
    on_model(llm_server, SMALL, text("Lyon"))
    on_model(llm_server, MEDIUM, text("Marseille"))
    on_model(llm_server, LARGE, text("Paris"))
    run = run_flow(workspace, user, loop(3))
    assert run.status == "succeeded", run.error_message
    assert models_asked(llm_server) == [SMALL, MEDIUM, LARGE]
    steps = Step.objects.filter(run=run, node_id="ask").order_by("iteration")
    assert [s.model for s in steps] == [f"openai/{m}" for m in (SMALL, MEDIUM, LARGE)]
    assert [s.details["routing"]["tier"] for s in steps] == ["small", "medium", "large"]
    assert all(float(s.cost) > 0 for s in steps)
    assert "sent back 2 time(s)" in steps[2].details["routing"]["reasons"][-1]


def test_the_cascade_stops_at_the_top_tier(workspace, member, llm_server):
    user = member("editor")
    llm_server.on(lambda request: True, text("Lyon"))
    run = run_flow(workspace, user, loop(5))
    assert run.status == "failed" and run.error_code == "evaluation_failed"
    assert models_asked(llm_server) == [SMALL, MEDIUM, LARGE, LARGE, LARGE]


def test_cascade_off_keeps_the_routed_model(workspace, member, llm_server):
    user = member("editor")
    llm_server.on(lambda request: True, text("Lyon"))
    run = run_flow(workspace, user, loop(3, cascade=False))
    assert run.status == "failed"
    assert models_asked(llm_server) == [SMALL, SMALL, SMALL]


NAMES_PARIS = [{"kind": "contains", "value": "Paris", "message": "name the city"}]


def test_escalate_on_checks_send_the_same_step_up_a_tier(workspace, member, llm_server):
    user = member("editor")
    on_model(llm_server, SMALL, text("Lyon"))
    on_model(llm_server, MEDIUM, text("Paris"))
    run = run_flow(workspace, user, single({"model": "auto", "escalate_on": NAMES_PARIS}))
    assert run.status == "succeeded", run.error_message
    assert models_asked(llm_server) == [SMALL, MEDIUM]
    step = Step.objects.get(run=run, node_id="ask")  # one step, two attempts
    assert step.output == "Paris" and step.model == f"openai/{MEDIUM}"
    attempts = step.details["routing"]["attempts"]
    assert [(a["model"], a["outcome"]) for a in attempts] == [
        (f"openai/{SMALL}", "checks_failed"),
        (f"openai/{MEDIUM}", "ok"),
    ]
    assert attempts[0]["feedback"] == "name the city"


def test_escalate_on_keeps_the_top_tiers_answer(workspace, member, llm_server):
    user = member("editor")
    llm_server.on(lambda request: True, text("Lyon"))
    run = run_flow(workspace, user, single({"model": "auto", "escalate_on": NAMES_PARIS}))
    assert run.status == "succeeded"
    assert models_asked(llm_server) == [SMALL, MEDIUM, LARGE]
    step = Step.objects.get(run=run, node_id="ask")
    assert step.output == "Lyon"
    assert "kept" in step.details["routing"]["reasons"][-1]


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_invalid_json_after_the_repair_escalates_within_the_step(workspace, member, llm_server):
    user = member("editor")
    on_model(llm_server, SMALL, text("Paris, I think"))
    on_model(llm_server, MEDIUM, json_reply({"city": "Paris"}))
    config = {"model": "auto", "output_format": "json", "json_schema": SCHEMA}
    run = run_flow(workspace, user, single(config))
    assert run.status == "succeeded", run.error_message
    assert models_asked(llm_server) == [SMALL, SMALL, MEDIUM]  # the answer, its repair, then up
    step = Step.objects.get(run=run, node_id="ask")
    assert step.output == {"city": "Paris"}
    attempts = step.details["routing"]["attempts"]
    assert [(a["model"], a["outcome"]) for a in attempts] == [
        (f"openai/{SMALL}", "invalid_json"),
        (f"openai/{MEDIUM}", "ok"),
    ]
    assert all(a["cost"] > 0 for a in attempts)
    assert float(step.cost) == pytest.approx(sum(a["cost"] for a in attempts), abs=1e-6)
    assert step.details["routing"]["chose"] == f"openai/{MEDIUM}"


def test_invalid_json_on_every_tier_fails_at_the_top(workspace, member, llm_server):
    user = member("editor")
    llm_server.on(lambda request: True, text("not json"))
    config = {"model": "auto", "output_format": "json", "json_schema": SCHEMA}
    run = run_flow(workspace, user, single(config))
    assert run.status == "failed"
    assert models_asked(llm_server) == [SMALL, SMALL, MEDIUM, MEDIUM, LARGE, LARGE]
    step = Step.objects.get(run=run, node_id="ask")
    assert step.error_code == "invalid_json"
    assert len(step.details["routing"]["attempts"]) == 3


def test_reproducing_an_auto_run_makes_no_calls(workspace, member, llm_server):
    user = member("editor")
    on_model(llm_server, SMALL, text("Lyon"))
    on_model(llm_server, MEDIUM, text("Paris"))
    run = run_flow(workspace, user, loop(3))
    assert run.status == "succeeded"
    llm_server.reset()
    copy = run_reproduce(user=user, run=run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded" and llm_server.call_count == 0
    steps = Step.objects.filter(run=copy, node_id="ask").order_by("iteration")
    assert [s.details["routing"]["chose"] for s in steps] == [
        f"openai/{SMALL}",
        f"openai/{MEDIUM}",
    ]


def test_validation_reports_routing_problems(workspace, settings):
    unknown = single({"model": "auto", "candidates": ["openai/gpt-9", f"openai/{SMALL}"]})
    codes = [(e.code, e.field) for e in flow_validate(graph=unknown, workspace_id=workspace.pk)]
    assert codes == [("graph.E051", "candidates")]
    too_low = single({"model": "auto", "candidates": [f"openai/{LARGE}"], "max_tier": "small"})
    [error] = flow_validate(graph=too_low, workspace_id=workspace.pk)
    assert error.code == "graph.E052" and "below every candidate" in error.message
    fine = single({"model": "auto", "max_tier": "small"})
    assert flow_validate(graph=fine, workspace_id=workspace.pk) == []
    settings.SWITCHBOARD_PROVIDERS = {"openai": {"base_url": "https://x.io/v1", "models": {}}}
    [error] = flow_validate(graph=single({"model": "auto"}), workspace_id=workspace.pk)
    assert error.code == "graph.E050" and "no" in error.message.lower()
    # A fixed model is never checked against the catalogue.
    assert flow_validate(graph=single({"model": "openai/x"}), workspace_id=workspace.pk) == []


def test_malformed_tool_call_json_falls_back_to_the_fallback_model(workspace, member, llm_server):
    user = member("editor")
    on_model(llm_server, SMALL, tool_call("calculator", '{"expression": "1 +'))
    on_model(llm_server, LARGE, text("2"))
    config = {
        "model": f"openai/{SMALL}",
        "fallback_models": [f"openai/{LARGE}"],
        "tools": ["calculator"],
    }
    run = run_flow(workspace, user, single(config))
    assert run.status == "succeeded", run.error_message
    assert models_asked(llm_server) == [SMALL, SMALL, SMALL, LARGE]  # the answer, 2 re-asks, then
    step = Step.objects.get(run=run, node_id="ask")
    assert step.model == f"openai/{LARGE}" and step.output == "2"

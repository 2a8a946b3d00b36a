"""`cascade_from: cheapest`: a routed prompt starts on the cheapest candidate whatever the router
thinks, and climbs the tiers when its evaluator fails, stopping at the top one."""

from __future__ import annotations

import pytest

from builder.models import Flow
from runs.executor import InlineExecutor
from runs.models import Step
from runs.services import run_start
from tests.llmserver import text

from .engine.graphs import edge, graph, node, prompt
from .support import fast_passwords, inline, memory_layer  # noqa: F401

pytestmark = pytest.mark.usefixtures("inline")

HARD = "Solve step by step and prove it: 3x + 5 = {{ inputs.question }}. Then implement it."


@pytest.fixture(autouse=True)
def scripted_models_only(llm_server, settings):
    settings.SWITCHBOARD_PROVIDERS = {"openai": settings.SWITCHBOARD_PROVIDERS["openai"]}


def looped(max_attempts: int, **config):
    return graph(
        [
            node("in", "input"),
            prompt("ask", HARD, model="auto", **config),
            node(
                "check",
                "evaluator",
                rules=[{"kind": "contains", "value": "x = 5", "message": "solve it"}],
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


def run_flow(workspace, user, document):
    flow = Flow.objects.create(workspace=workspace, name="cascade", graph=document)
    run = run_start(user=user, flow=flow, inputs={"question": "20"}, use_draft=True)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def test_the_router_sends_the_hard_request_up_but_cheapest_first_starts_small(
    workspace, member, llm_server
):
    user = member("editor")
    llm_server.script(text("x = 5"))
    routed = run_flow(workspace, user, looped(3))
    assert [r["model"] for r in llm_server.requests] == ["gpt-4o"]
    llm_server.reset()
    llm_server.script(text("x = 5"))
    cheap = run_flow(workspace, user, looped(3, cascade_from="cheapest"))
    assert routed.status == cheap.status == "succeeded"
    assert [r["model"] for r in llm_server.requests] == ["gpt-4o-mini"]
    routing = Step.objects.get(run=cheap, node_id="ask").details["routing"]
    assert routing["chose"] == "openai/gpt-4o-mini"
    assert "cheapest" in routing["reasons"][-1]
    assert routing["ladder"] == ["openai/gpt-4o-mini", "openai/gpt-4.1-mini", "openai/gpt-4o"]


def test_cheapest_first_escalates_on_each_failed_check_and_stops_at_the_top(
    workspace, member, llm_server
):
    user = member("editor")
    llm_server.script(text("no idea"), text("still unsure"), text("x = 5"))
    done = run_flow(workspace, user, looped(3, cascade_from="cheapest"))
    assert done.status == "succeeded"
    assert [r["model"] for r in llm_server.requests] == ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4o"]
    llm_server.reset()
    llm_server.script(*(text("no idea") for _ in range(4)))
    failed = run_flow(workspace, user, looped(4, cascade_from="cheapest"))
    assert failed.status == "failed" and failed.error_code == "evaluation_failed"
    # The fourth attempt stays on the top tier.
    assert [r["model"] for r in llm_server.requests][-2:] == ["gpt-4o", "gpt-4o"]

"""The small model's self-assessment (opt-in per auto prompt): one short call to the cheapest
candidate before the rules-based router decides; its rating moves the score, and the call is
recorded, so a reproduction makes none."""

from __future__ import annotations

import pytest

from runs.executor import InlineExecutor
from runs.models import Recording, Step
from runs.services.reruns import run_reproduce
from tests.llmserver import text

from .support import fast_passwords, inline, memory_layer  # noqa: F401
from .test_auto_routing import LOOKUP, SMALL, run_flow, single

pytestmark = pytest.mark.usefixtures("inline")


@pytest.fixture(autouse=True)
def scripted_models_only(llm_server, settings):
    settings.SWITCHBOARD_PROVIDERS = {"openai": settings.SWITCHBOARD_PROVIDERS["openai"]}


def assessed(reply: str, llm_server):
    llm_server.on(lambda r: "rate from 0 to 10" in str(r["messages"]), text(reply))
    llm_server.on(lambda r: True, text("Paris"))


def test_an_unsure_small_model_sends_the_request_up(workspace, member, llm_server):
    assessed("2", llm_server)
    run = run_flow(workspace, member("editor"), single({"model": "auto", "self_assessment": True}))
    step = Step.objects.get(run=run, node_id="ask")
    routing = step.details["routing"]
    assert routing["chose"] == "openai/gpt-4.1-mini" and routing["tier"] == "medium"
    assert "the small model rates its confidence 2/10: +3" in routing["reasons"]
    asked = [r["model"] for r in llm_server.requests]
    assert asked == [SMALL, "gpt-4.1-mini"]
    assert llm_server.requests[0]["max_tokens"] == 8
    assert Recording.objects.filter(step=step, kind="llm").count() == 2


def test_a_sure_small_model_keeps_the_small_tier(workspace, member, llm_server):
    assessed("Confidence: 9", llm_server)
    run = run_flow(workspace, member("editor"), single({"model": "auto", "self_assessment": True}))
    routing = Step.objects.get(run=run, node_id="ask").details["routing"]
    assert routing["tier"] == "small"
    assert "the small model rates its confidence 9/10: -1" in routing["reasons"]


def test_a_rating_that_is_no_number_is_not_counted(workspace, member, llm_server):
    assessed("maybe", llm_server)
    run = run_flow(workspace, member("editor"), single({"model": "auto", "self_assessment": True}))
    routing = Step.objects.get(run=run, node_id="ask").details["routing"]
    assert run.status == "succeeded" and routing["tier"] == "small"
    assert routing["reasons"][-1] == "the self-assessment was not a number (“maybe”)"


def test_off_by_default_no_extra_call(workspace, member, llm_server):
    assessed("0", llm_server)
    run_flow(workspace, member("editor"), single({"model": "auto"}))
    assert llm_server.call_count == 1


def test_reproducing_a_self_assessed_run_calls_nothing(workspace, member, llm_server):
    user = member("editor")
    assessed("1", llm_server)
    run = run_flow(workspace, user, single({"model": "auto", "self_assessment": True}, LOOKUP))
    llm_server.reset()
    copy = run_reproduce(user=user, run=run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded" and llm_server.call_count == 0
    step = Step.objects.get(run=copy, node_id="ask")
    assert step.details["routing"]["tier"] == "medium" and step.output == "Paris"

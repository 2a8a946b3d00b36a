"""A sub-flow step's failure policy on a real database: the child's failure handed to a person
(the inbox task survives the sweeper and settles the parent), and a too deep nesting taking the
error branch as a `depth` error."""
# Fixtures come from .support and .test_subflows by import; using them is not a redefinition.
# ruff: noqa: F811

import pytest

from runs.executor import InlineExecutor
from runs.models import Approval, RunEvent, Step
from runs.services import sweep
from runs.services.fallbacks import fallback_decide
from tests.llmserver import http_error

from .support import finish_inline, inline, memory_layer  # noqa: F401
from .test_subflows import (  # noqa: F401
    _edge,
    _node,
    calling_graph,
    child_of,
    llm,
    make_flow,
    owner,
    prompt_graph,
    start,
)

pytestmark = pytest.mark.django_db


def test_child_failure_asks_a_person_whose_output_completes_the_parent(llm, make_flow, owner):
    llm.script(http_error(400))
    child_flow = make_flow("Explain", prompt_graph(retries=0))
    parent_flow = make_flow(
        "Caller", calling_graph(child_flow.pk, on_failure="ask", fallback_users=["owner"])
    )
    run = start(parent_flow, owner)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "waiting", (run.error_code, run.error_message)
    child = child_of(run)
    assert child.status == "failed"
    step = Step.objects.get(run=run, node_id="mid")
    assert step.status == "waiting"
    task = Approval.objects.get(step=step)
    assert task.kind == "fallback" and list(task.users.all()) == [owner]
    error = task.payload["error"]
    assert error["type"] == "child_failed" and error["child_run_id"] == child.pk
    assert error["child_type"] == "provider_error" and error["code"] == child.error_code
    assert task.payload["inputs"]["inputs"] == {"topic": "tea"}
    requested = RunEvent.objects.get(run=run, kind="approval.requested")
    assert requested.data["kind"] == "fallback" and requested.data["code"] == child.error_code

    # The sweeper sees a finished child under a waiting step: it is the person's now.
    sweep()
    step.refresh_from_db()
    assert step.status == "waiting" and Approval.objects.filter(step=step).count() == 1

    decided = fallback_decide(
        user=owner, approval_id=task.pk, action="output", output={"answer": "typed"}
    )
    InlineExecutor().advance(decided.resume)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.result == {"answer": "typed"}


def test_too_deep_sub_flow_takes_the_error_branch_as_a_depth_error(llm, make_flow, owner, settings):
    settings.SWITCHBOARD_SUBFLOW_MAX_DEPTH = 0
    child_flow = make_flow("Explain", prompt_graph())
    graph = calling_graph(child_flow.pk, on_failure="branch")
    graph["nodes"].append(_node("sorry", "output", name="problem"))
    graph["edges"].append(_edge("mid", "sorry", port="error"))
    parent_flow = make_flow("Caller", graph)

    run = finish_inline(start(parent_flow, owner), owner)

    assert run.status == "succeeded", (run.error_code, run.error_message)
    problem = run.result["problem"]
    assert problem["type"] == "depth" and problem["code"] == "subflow_too_deep"
    assert problem["node"] == "mid" and "levels deep" in problem["message"]
    assert llm.call_count == 0

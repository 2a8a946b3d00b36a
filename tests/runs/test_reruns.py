"""Re-run, re-run from a step on the current draft, reproduce, compare."""

import pytest

from builder.models import Flow
from builder.services import flow_save_draft
from config.domain import Invalid
from config.errors import http_status
from runs.executor import InlineExecutor
from runs.models import Approval, RunEvent, Step
from runs.services import run_start
from runs.services.reruns import run_reproduce, run_rerun, runs_compare

from .support import finish_inline as finish


@pytest.fixture
def recipe_run(demo, llm_server):
    flow = Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")
    run = run_start(user=demo["owner"], flow=flow, inputs=None)
    run = finish(run, demo["owner"])
    assert run.status == "succeeded"
    return run


def snapshot(run):
    return sorted(Step.objects.filter(run=run).values_list("id", "status", "output", "cost"))


def test_rerun_from_step_on_draft_reuses_upstream_and_shows_the_difference(
    recipe_run, demo, llm_server
):
    owner = demo["owner"]
    before = snapshot(recipe_run)
    flow = recipe_run.flow
    graph = flow.graph
    for node in graph["nodes"]:
        if node["id"] == "instructions":
            node["config"]["prompt"] = "NEW: steps for {{ inputs.dish }}, please."
    flow_save_draft(flow=flow, graph=graph, revision=flow.revision)
    llm_server.reset()

    rerun = run_rerun(user=owner, run=recipe_run, from_node="instructions", use_draft=True)
    rerun = finish(rerun, owner)
    assert rerun.status == "succeeded"
    assert rerun.parent_run_id == recipe_run.pk and rerun.from_node == "instructions"
    assert rerun.version_id != recipe_run.version_id  # the draft, frozen as a new version
    reused = set(Step.objects.filter(run=rerun, reused=True).values_list("node_id", flat=True))
    assert {"research", "pantry", "anything_missing", "shopping"} <= reused
    assert "instructions" not in reused
    # Only the changed step reached the model: the upstream prompts were not paid for again.
    prompts = [r["messages"][-1]["content"] for r in llm_server.requests]
    assert len(prompts) == 1 and prompts[0].startswith("NEW:")
    assert Step.objects.get(run=rerun, node_id="research").cost == 0
    reused_events = RunEvent.objects.filter(run=rerun, data__reused=True).count()
    assert reused_events == len(reused)

    diff = runs_compare(left=recipe_run, right=rerun)
    by_node = {n["node_id"]: n for n in diff["nodes"]}
    assert by_node["research"]["same_output"] and by_node["research"]["right"]["reused"]
    assert not by_node["instructions"]["same_output"]
    assert diff["right"]["cost"] < diff["left"]["cost"]
    assert not diff["all_outputs_match"]
    assert snapshot(recipe_run) == before  # the original is never modified


def test_rerun_with_edited_inputs_from_scratch(recipe_run, demo, llm_server):
    rerun = run_rerun(user=demo["owner"], run=recipe_run, inputs={"dish": "soup", "servings": 1})
    rerun = finish(rerun, demo["owner"])
    assert rerun.inputs["dish"] == "soup" and rerun.status == "succeeded"
    assert not Step.objects.filter(run=rerun, reused=True).exists()
    assert any("soup" in r["messages"][-1]["content"] for r in llm_server.requests)


def test_rerun_from_unknown_node_refused(recipe_run, demo):
    with pytest.raises(Invalid) as caught:
        run_rerun(user=demo["owner"], run=recipe_run, from_node="nope")
    assert caught.value.code == "unknown_node" and http_status(caught.value) == 422


def test_reproduce_makes_no_calls_and_matches_every_output(recipe_run, demo, llm_server):
    llm_server.reset()
    copy = run_reproduce(user=demo["owner"], run=recipe_run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded"  # the approval was replayed, not asked again
    assert llm_server.call_count == 0
    assert not Approval.objects.filter(run=copy).exists()
    diff = runs_compare(left=recipe_run, right=copy)
    assert diff["all_outputs_match"], [n for n in diff["nodes"] if not n["same_output"]]
    assert float(copy.cost) == 0


def test_reproduce_notices_a_changed_flow(recipe_run, demo, llm_server):
    # Reproducing a version whose recorded calls run out is a typed failure, not a crash.
    Step.objects.filter(run=recipe_run, node_id="shopping").first().recordings.all().delete()
    llm_server.reset()
    copy = run_reproduce(user=demo["owner"], run=recipe_run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "failed" and copy.error_code == "replay_mismatch"
    assert llm_server.call_count == 0  # it never falls back to the network
    failed = Step.objects.get(run=copy, status="failed")
    assert failed.node_id == "shopping"

"""Runs persisted in the database: steps, events, totals, approvals, cancel, the terminal runner."""

import json
import logging

import pytest
from django.core.management import call_command

from builder.models import Flow
from config.domain import Invalid
from config.errors import http_status
from runs.engine.runner import StepOutcome
from runs.executor import InlineExecutor
from runs.models import Approval, Recording, Run, RunEvent, Step
from runs.services import approval_decide, run_cancel, run_start
from runs.services.advancing import run_advance, step_claim, step_complete
from tests.llmserver import refusal, text

SECRET = "sk-test-sentinel-key-0123456789abcdef"


def start(flow_name, demo, inputs=None, **kwargs):
    flow = Flow.objects.get(workspace=demo["workspace"], name=flow_name)
    run = run_start(user=demo["owner"], flow=flow, inputs=inputs, **kwargs)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def approve_all(run, user):
    while run.status == "waiting":
        for approval in Approval.objects.filter(run=run, status="pending"):
            approval_decide(user=user, approval_id=approval.pk, decision="approved")
        InlineExecutor().advance(run.pk)
        run.refresh_from_db()
    return run


def kinds(run):
    return list(RunEvent.objects.filter(run=run).order_by("seq").values_list("kind", flat=True))


@pytest.mark.parametrize("name", ["Recipe assistant", "Support triage", "Trip budget"])
def test_runs_demo_flow_completes_with_contiguous_events_and_totals(name, demo, llm_server):
    run = approve_all(start(name, demo), demo["owner"])
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.result
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert run.last_seq == seqs[-1]
    steps = Step.objects.filter(run=run)
    assert run.tokens_in == sum(s.tokens_in for s in steps) > 0
    assert float(run.cost) == pytest.approx(sum(float(s.cost) for s in steps))
    assert run.step_count == steps.exclude(status="skipped").count()
    events = kinds(run)
    assert events[:2] == ["run.queued", "run.started"] and events[-1] == "run.succeeded"
    for step in steps.exclude(status="skipped"):
        assert RunEvent.objects.filter(run=run, node_id=step.node_id, kind="step.started").exists()
    llm_steps = steps.filter(node_type="prompt", status="succeeded")
    assert llm_steps and all(s.model == "openai/gpt-4o-mini" for s in llm_steps)
    # A map's items are runs of their own (the recipe prices each missing ingredient).
    items = Run.objects.filter(parent_step__run=run)
    recorded = Recording.objects.filter(step__run__in=[run, *items], kind="llm").count()
    assert recorded == llm_server.call_count


def test_runs_record_nothing_secret(demo, llm_server, caplog):
    caplog.set_level(logging.DEBUG)
    llm_server.script(text("fine"), text("fine"), text("fine"))
    run = approve_all(start("Trip budget", demo), demo["owner"])
    dumped = json.dumps(
        [
            list(RunEvent.objects.filter(run=run).values()),
            list(Step.objects.filter(run=run).values()),
            list(Recording.objects.filter(step__run=run).values()),
        ],
        default=str,
    )
    assert SECRET not in dumped
    assert SECRET not in caplog.text
    # The key did reach the provider, so the test would notice if nothing was sent at all.
    assert any(
        SECRET in h.get("authorization", h.get("Authorization", ""))
        for h in llm_server.request_headers
    )


def test_runs_bad_inputs_refused_before_a_run_exists(demo):
    flow = Flow.objects.get(workspace=demo["workspace"], name="Trip budget")
    with pytest.raises(Invalid) as caught:
        run_start(user=demo["owner"], flow=flow, inputs={"city": 3})
    assert caught.value.code == "invalid_inputs" and http_status(caught.value) == 422
    assert any("nights" in problem for problem in caught.value.extra["errors"])
    assert not Run.objects.exists()


def test_runs_approval_waits_then_resumes_with_edited_payload(demo, llm_server):
    run = start("Recipe assistant", demo)
    assert run.status == "waiting"
    approval = Approval.objects.get(run=run)
    assert set(approval.payload) == {"cooking_instructions", "shopping_list"}
    assert demo["owner"] in approval.users.all()
    edited = {"instructions": "1. Boil water.", "shopping": "eggs"}
    approval_decide(
        user=demo["owner"],
        approval_id=approval.pk,
        decision="approved",
        payload=edited,
        comment="tightened",
    )
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.result == {"recipe": edited}
    assert approval.decisions.get().comment == "tightened"
    assert "approval.decided" in kinds(run)


def test_runs_rejected_approval_takes_rejected_branch(demo, llm_server):
    run = start("Recipe assistant", demo)
    approval = Approval.objects.get(run=run)
    approval_decide(user=demo["owner"], approval_id=approval.pk, decision="rejected")
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert "declined" in run.result and "recipe" not in run.result


def test_runs_llm_refusal_fails_run_with_typed_reason(demo, llm_server):
    llm_server.script(refusal("I won't."))
    run = start("Trip budget", demo)
    assert run.status == "failed"
    assert run.error_code == "refusal"
    failed = Step.objects.get(run=run, status="failed")
    assert failed.node_id == "explain" and failed.error_code == "refusal"


def test_runs_cancel_discards_late_result_and_schedules_nothing(demo, llm_server):
    flow = Flow.objects.get(workspace=demo["workspace"], name="Trip budget")
    run = run_start(user=demo["owner"], flow=flow, inputs=None)
    queued = list(run_advance(run_id=run.pk))
    claimed = step_claim(run_id=run.pk, step_id=queued[0], worker="w1")
    run_cancel(run=run, user=demo["owner"])
    kept = step_complete(
        claimed=claimed,
        worker="w1",
        outcome=StepOutcome(status="succeeded", output={}, ports=["out"]),
    )
    assert kept is None
    assert list(run_advance(run_id=run.pk)) == []
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert Step.objects.filter(run=run).count() == 1
    assert Step.objects.get(run=run).status == "cancelled"


def test_runs_budget_stops_run(demo, llm_server):
    run = start("Trip budget", demo, budgets={"max_steps": 2})
    assert run.status == "failed"
    assert run.error_code == "budget_exceeded"
    assert Step.objects.filter(run=run).exclude(status="skipped").count() <= 3


@pytest.mark.django_db(transaction=True)
def test_run_flow_command_prints_json_events(llm_server, capsys):
    call_command("seed_demo")
    call_command("ensure_admin")
    capsys.readouterr()
    call_command("run_flow", "Recipe assistant", "--approve", "--json")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert lines[-1]["kind"] == "run.succeeded"
    assert any(e["kind"] == "approval.requested" for e in lines)
    assert {"seq", "kind", "node_id", "data"} <= set(lines[0])


@pytest.mark.django_db(transaction=True)
def test_run_flow_command_with_inputs_and_unknown_flow(llm_server, capsys):
    call_command("seed_demo")
    call_command("ensure_admin")
    call_command(
        "run_flow",
        "Trip budget",
        "--input",
        "city=Oslo",
        "--input",
        "nights=2",
        "--input",
        "nightly_rate=100",
    )
    out = capsys.readouterr().out
    assert "succeeded" in out and "Oslo" in out
    with pytest.raises(Exception, match="No flow"):
        call_command("run_flow", "No such flow")

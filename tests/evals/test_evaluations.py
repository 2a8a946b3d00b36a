# ruff: noqa: F811
"""Evaluation runs: each item a real run of the flow version (through the scripted model
server), scored by dataset-level scorers or the flow's own evaluators; every item exactly once
even when workers die mid-run and the driver crashes mid-transaction."""

from decimal import Decimal

import pytest
from django.db import OperationalError, connection

from config.domain import Invalid
from evals.dispatch import drive
from evals.models import EvaluationItem
from evals.scorers import score_one, scorers_clean
from evals.services import evaluation_advance, evaluation_start, evaluation_summary
from runs.executor import Executor, InlineExecutor, set_executor
from runs.models import Run, Step
from runs.services.recovery import sweep
from tests.llmserver import json_reply, text
from tests.runs.support import fast_passwords, inline, memory_layer  # noqa: F401
from tests.runs.test_recovery import crash, drive_until
from workspaces.models import Role

from .support import capitals_dataset, qa_flow


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "eval-editor")


@pytest.mark.django_db(transaction=True)
def test_evaluation_scores_each_item_from_its_run(inline, workspace, editor):
    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=4)
    inline.on("Oslo", text("I am not sure."))
    evaluation = evaluation_start(
        user=editor,
        flow=flow,
        dataset=dataset,
        use_draft=True,
        scorers=[{"type": "contains"}],
        concurrency=2,
    )
    drive(evaluation.pk)

    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded" and evaluation.finished_at
    items = list(evaluation.items.select_related("run").order_by("position"))
    assert [i.status for i in items] == ["passed", "failed", "passed", "passed"]
    assert inline.call_count == 4
    assert len({i.run_id for i in items}) == 4
    assert all(i.run.trigger == "eval" and i.run.version_id == evaluation.version_id for i in items)
    assert items[0].output == "Scripted reply: Answer briefly: capital 0 Paris"
    assert items[1].scores[0]["reason"] == "does not contain “Oslo”"
    assert all(i.latency_ms is not None for i in items)
    summary = evaluation_summary(evaluation)
    assert summary["done"] == 4 and summary["passed"] == 3 and summary["pass_rate"] == 0.75


@pytest.mark.django_db(transaction=True)
def test_evaluation_item_with_inputs_the_flow_refuses_fails_with_the_reason(
    inline, workspace, editor
):
    from evals.datasets import dataset_upload

    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=1)
    dataset_upload(
        user=editor, dataset=dataset, filename="x.jsonl", content=b'{"inputs": {"q": 1}}'
    )
    evaluation = evaluation_start(user=editor, flow=flow, dataset=dataset, use_draft=True)
    drive(evaluation.pk)
    bad = evaluation.items.get(position=2)
    assert bad.status == "failed" and bad.run_id is None
    assert "The inputs do not match the flow's input form." in bad.error
    assert Run.objects.filter(flow=flow).count() == 1


@pytest.mark.django_db(transaction=True)
def test_evaluation_llm_judge_scores_through_the_model(inline, workspace, editor):
    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=2)
    inline.on("You grade the answer", json_reply({"score": 0.9, "reason": "Names the city."}))
    evaluation = evaluation_start(
        user=editor,
        flow=flow,
        dataset=dataset,
        use_draft=True,
        scorers=[{"type": "judge", "rubric": "The answer names the capital.", "threshold": 0.8}],
    )
    drive(evaluation.pk)
    items = list(evaluation.items.all())
    assert [i.status for i in items] == ["passed", "passed"]
    assert items[0].scores[0] == {
        "scorer": "judge",
        "passed": True,
        "score": 0.9,
        "reason": "Names the city.",
    }
    judged = [r for r in inline.requests if "You grade the answer" in str(r["messages"])]
    assert len(judged) == 2 and "The answer names the capital." in str(judged[0]["messages"])


def test_scorers_on_fixed_examples():
    def check(scorer, output, expected=None):
        return score_one(scorers_clean([scorer])[0], output=output, expected=expected, inputs={})

    assert check({"type": "exact"}, "  Paris ", "paris").passed
    assert not check({"type": "exact", "ignore_case": False}, "Paris", "paris").passed
    assert check({"type": "exact"}, {"a": 1}, {"a": 1}).passed
    assert check({"type": "contains", "text": "refund"}, "We will REFUND you").passed
    assert check({"type": "regex", "pattern": r"^\d{3}-\d{4}$"}, "555-1234").passed
    assert not check({"type": "regex", "pattern": r"^\d{3}$"}, "5555").passed
    timed = check({"type": "regex", "pattern": "^(a|a)*$"}, "a" * 28 + "!")
    assert not timed.passed and timed.reason == "the pattern took too long to check"
    schema = {"type": "object", "required": ["intent"]}
    assert check({"type": "json_schema", "schema": schema}, '{"intent": "x"}').passed
    assert not check({"type": "json_schema", "schema": schema}, "{}").passed
    assert check({"type": "numeric", "tolerance": 0.5}, "about 41.6 km", 42).passed
    assert not check({"type": "numeric", "tolerance": 0.5}, "40", 42).passed
    with pytest.raises(Invalid) as refused:
        scorers_clean([{"type": "eval"}, {"type": "regex", "pattern": "("}, {"type": "judge"}])
    assert len(refused.value.extra["errors"]) == 3


class Parked(Executor):
    """Kicks are collected, not executed: the test plays the workers (and kills some)."""

    def __init__(self):
        self.kicked: list[int] = []

    def advance(self, run_id, *, redispatch=False):
        self.kicked.append(run_id)


class CrashOnce:
    """The driver's process dies in the middle of linking an item to its new run."""

    def __init__(self):
        self.done = False

    def __call__(self, execute, sql, params, many, context):
        if not self.done and sql.startswith('UPDATE "evals_evaluationitem" SET "status"'):
            self.done = True
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_evaluation_of_50_items_with_killed_workers_runs_each_item_exactly_once(
    inline, workspace, editor
):
    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=50)
    evaluation = evaluation_start(
        user=editor,
        flow=flow,
        dataset=dataset,
        use_draft=True,
        scorers=[{"type": "contains"}],
        concurrency=5,
    )
    parked = Parked()
    set_executor(parked)
    fault = CrashOnce()
    with connection.execute_wrapper(fault), pytest.raises(OperationalError):
        evaluation_advance(evaluation_id=evaluation.pk)
    assert fault.done
    # The crashed pass left nothing behind: no run without its item.
    assert not Run.objects.filter(flow=flow).exists()

    killed = 0
    for _ in range(400):
        for run_id in evaluation_advance(evaluation_id=evaluation.pk):
            run = Run.objects.get(pk=run_id)
            if run_id % 7 == 0:
                # The worker executing this run's model step dies mid-call.
                crash(drive_until(run, "answer"))
                killed += 1
            else:
                InlineExecutor().advance(run_id)
        for run_id in sweep():
            InlineExecutor().advance(run_id, redispatch=True)
        evaluation.refresh_from_db()
        if evaluation.is_finished:
            break
    set_executor(InlineExecutor())

    assert evaluation.status == "succeeded"
    assert killed >= 5
    items = list(EvaluationItem.objects.filter(evaluation=evaluation))
    assert len(items) == 50 and all(i.status == "passed" for i in items)
    run_ids = [i.run_id for i in items]
    assert len(set(run_ids)) == 50 and None not in run_ids
    assert Run.objects.filter(flow=flow).count() == 50
    assert set(Run.objects.filter(flow=flow).values_list("status", flat=True)) == {"succeeded"}
    lost = Step.objects.filter(run__flow=flow, error_code="worker_lost").count()
    assert lost == killed  # each killed step re-executed once, nothing else repeated
    assert evaluation_summary(evaluation)["cost"] == sum((i.cost for i in items), Decimal(0))

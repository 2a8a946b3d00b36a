# ruff: noqa: F811
"""Each LLM-judge question about an evaluation item is claimed in the database before the model
is asked: two drivers scoring the same item at once (the first one looked dead after the stale
window, but was still waiting on the judge) make one model call between them, counted on the
scripted server; a claim older than its lease is taken over; a kept reply is reused."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from costs.models import SpendDay
from evals.judging import EvaluationJudge, claim_lease
from evals.models import Evaluation, EvaluationItem, JudgeCall, JudgeClaim
from evals.services import driver_stale, evaluation_advance, evaluation_start, evaluations_sweep
from runs.dispatch import kick_all
from tests.llmserver import json_reply
from tests.runs.support import fast_passwords, inline, memory_layer  # noqa: F401
from workspaces.models import Role

from .support import capitals_dataset, qa_flow

JUDGE = [{"type": "judge", "rubric": "The answer names the capital.", "threshold": 0.5}]


@pytest.fixture
def owner(member):
    return member(Role.OWNER, "claims-owner")


class HeldJudge:
    """The judge's first call hangs until the test opens the gate; later ones answer at once."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.waiting = threading.Event()
        self._first = threading.Lock()

    def __call__(self, request):
        if self._first.acquire(blocking=False):
            self.waiting.set()
            self.opened.wait(60)
        return json_reply({"score": 0.9, "reason": "Names it."})


def judge_requests(server) -> int:
    return sum(1 for r in server.requests if "You grade the answer" in str(r["messages"]))


def answered_item(server, workspace, owner):
    """An evaluation of one item whose run has finished and is waiting to be scored."""
    held = HeldJudge()
    server.on("You grade the answer", held)
    flow = qa_flow(workspace, owner)
    dataset = capitals_dataset(workspace, owner, count=1)
    evaluation = evaluation_start(
        user=owner, flow=flow, dataset=dataset, use_draft=True, scorers=JUDGE
    )
    kick_all(evaluation_advance(evaluation_id=evaluation.pk))  # inline: the run finishes here
    item = EvaluationItem.objects.get(evaluation=evaluation)
    assert item.status == "running" and item.run.status == "succeeded"
    return evaluation, item, held


def first_driver(evaluation) -> threading.Thread:
    def drive():
        try:
            evaluation_advance(evaluation_id=evaluation.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=drive)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_two_drivers_racing_make_one_judge_call(inline, workspace, owner):
    evaluation, item, held = answered_item(inline, workspace, owner)
    first = first_driver(evaluation)
    assert held.waiting.wait(30)  # the first driver is inside the judge call
    # Its heartbeat went quiet: after the stale window the sweeper drives the evaluation too.
    later = timezone.now() + driver_stale() + timedelta(seconds=1)
    Evaluation.objects.filter(pk=evaluation.pk).update(driver_seen_at=timezone.now())
    assert evaluations_sweep(later) == []
    item.refresh_from_db()
    assert item.status == "running"  # left to the claim's holder, not scored
    held.opened.set()
    first.join(30)
    assert not first.is_alive()
    assert judge_requests(inline) == 1
    assert JudgeCall.objects.filter(evaluation=evaluation).count() == 1
    item.refresh_from_db()
    assert item.status == "passed" and item.scores[0]["scorer"] == "judge"
    assert SpendDay.objects.get(flow=evaluation.flow).calls == 2  # the answer, one judge call
    kick_all(evaluation_advance(evaluation_id=evaluation.pk))
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded" and judge_requests(inline) == 1


@pytest.mark.django_db(transaction=True)
def test_a_claim_older_than_its_lease_is_taken_over(inline, workspace, owner):
    evaluation, item, held = answered_item(inline, workspace, owner)
    first = first_driver(evaluation)
    assert held.waiting.wait(30)
    # The holder looks crashed: its claim is older than the longest a judge call may take.
    JudgeClaim.objects.update(claimed_at=timezone.now() - claim_lease() - timedelta(seconds=1))
    evaluation_advance(evaluation_id=evaluation.pk)
    item.refresh_from_db()
    assert item.status == "passed" and judge_requests(inline) == 2
    held.opened.set()
    first.join(30)
    # The old holder's call was paid, so it is recorded; the item stays scored once.
    assert JudgeCall.objects.filter(evaluation=evaluation).count() == 2
    assert EvaluationItem.objects.get(pk=item.pk).scored_at == item.scored_at


@pytest.mark.django_db(transaction=True)
def test_a_question_the_judge_answered_is_not_asked_again(inline, workspace, owner):
    evaluation, item, held = answered_item(inline, workspace, owner)
    held.opened.set()
    judge = EvaluationJudge(evaluation, item)
    question = [{"role": "user", "content": "You grade the answer: Paris?"}]
    first = judge("", question)
    again = judge("", question)  # a driver that took the item over after a crash
    assert judge_requests(inline) == 1
    assert again.content == first.content and again.cost == pytest.approx(float(first.cost))
    assert JudgeCall.objects.filter(evaluation=evaluation).count() == 1

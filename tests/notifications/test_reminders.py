"""Tasks for a person and approvals that wait too long, under a fake clock (the sweep's `now`):
one reminder by email (locmem) and one webhook call to a loopback receiver, however many sweeps;
the timeout applied once, out of the error branch as a `timeout` error or failing the step."""

# Fixtures come from .test_notifications by import; using them is not a redefinition.
# ruff: noqa: F811
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from builder.models import Flow
from builder.services import flow_publish
from notifications.models import Notification
from notifications.services import reminders_send
from runs.executor import InlineExecutor
from runs.models import Approval, RunEvent, Step
from runs.services import run_start, sweep
from tests.conftest import require_or_skip
from tests.llmserver import http_error

from .test_notifications import hook, owner, use_webhook  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _node(node_id, type_, **config):
    return {"id": node_id, "type": type_, "label": node_id.title(), "config": config}


def _edge(source, target, port="out"):
    return {"id": f"{source}.{port}->{target}", "source": source, "source_port": port,
            "target": target, "target_port": "in"}  # fmt: skip


def failing_graph(**policy) -> dict:
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", schema={"type": "object", "properties": {"dish": {}}}),
            _node("listing", "prompt", prompt="List for {{ inputs.dish }}", retries=0, **policy),
            _node("done", "output", name="shopping"),
            _node("sorry", "output", name="problem"),
        ],
        "edges": [
            _edge("in", "listing"),
            _edge("listing", "done"),
            _edge("listing", "sorry", "error"),
        ],
    }


def approval_graph(**config) -> dict:
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", schema={"type": "object", "properties": {"dish": {}}}),
            _node("check", "approval", **config),
            _node("done", "output", name="approved"),
        ],
        "edges": [_edge("in", "check"), _edge("check", "done", "approved")],
    }


def start(demo, owner, graph):
    flow = Flow.objects.create(workspace=demo["workspace"], name="Shopping", graph=graph)
    flow_publish(flow=flow, user=owner)
    run = run_start(user=owner, flow=flow, inputs={"dish": "soup"})
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def settle(run_ids, run):
    for run_id in run_ids:
        InlineExecutor().advance(run_id)
    run.refresh_from_db()
    return run


@pytest.fixture
def failing(llm_server, settings):
    settings.SWITCHBOARD_EXECUTOR = "inline"
    settings.SWITCHBOARD_NOTIFY_INLINE = True
    llm_server.on("List for", http_error(400))
    return llm_server


def test_a_waiting_task_is_reminded_once_then_times_out_down_its_error_branch(
    demo, owner, hook, failing
):
    use_webhook(demo["workspace"], owner, hook.url)
    run = start(
        demo,
        owner,
        failing_graph(
            on_failure="ask",
            fallback_users=[owner.username],
            fallback_timeout="24h",
            fallback_timeout_action="branch",
            fallback_remind_after="4h",
        ),
    )
    assert run.status == "waiting", (run.error_code, run.error_message)
    task = Approval.objects.get(run=run)
    assert task.kind == "fallback"
    assert task.due_at - task.created_at == timedelta(hours=24)
    assert task.remind_at - task.created_at == timedelta(hours=4)
    assert len(mail.outbox) == 1 and len(hook.received) == 1  # the waiting notification
    now = timezone.now()

    # Before the reminder is due, nothing; after it, one email and one webhook call, however
    # many sweeps (two sweepers, the job run directly, a sweep after a restart).
    sweep(now=now + timedelta(hours=3))
    assert len(mail.outbox) == 1
    for _ in range(3):
        sweep(now=now + timedelta(hours=5))
    reminders_send(now + timedelta(hours=6))
    assert len(mail.outbox) == 2 and len(hook.received) == 2
    reminder = mail.outbox[1]
    assert reminder.to == ["chef@example.com"] and reminder.subject.startswith("Reminder")
    assert f"/approvals/{task.pk}/" in reminder.body
    assert "Reminder" in hook.received[1]["text"]
    rows = Notification.objects.filter(key__startswith=f"reminder:{task.pk}:")
    assert sorted(rows.values_list("channel", "status")) == [("email", "sent"), ("webhook", "sent")]
    task.refresh_from_db()
    assert task.status == "pending" and task.reminded_at == now + timedelta(hours=5)

    # At its timeout the step fails with a timeout error, which takes the error branch; once.
    run = settle(sweep(now=now + timedelta(hours=25)), run)
    assert run.status == "succeeded", (run.error_code, run.error_message)
    problem = run.result["problem"]
    assert problem["type"] == "timeout" and problem["code"] == "task_timed_out"
    assert "within 24h" in problem["message"]
    task.refresh_from_db()
    assert task.status == "timed_out"
    events = RunEvent.objects.filter(run=run).count()
    settle(sweep(now=now + timedelta(hours=26)), run)
    assert RunEvent.objects.filter(run=run).count() == events  # applied once
    decided = RunEvent.objects.filter(run=run, kind="approval.decided")
    assert [e.data["decision"] for e in decided] == ["timed_out"]
    assert Step.objects.get(run=run, node_id="listing").error_code == "task_timed_out"


def test_a_task_whose_timeout_action_is_fail_fails_the_run_with_its_error(demo, owner, failing):
    graph = failing_graph(on_failure="ask", fallback_timeout="2h")
    graph["edges"].pop()  # no error branch: the run fails
    graph["nodes"].pop()
    run = start(demo, owner, graph)
    assert run.status == "waiting"
    code = Step.objects.get(run=run, node_id="listing").error_code
    run = settle(sweep(now=timezone.now() + timedelta(hours=3)), run)
    assert run.status == "failed" and run.error_code == code
    step = Step.objects.get(run=run, node_id="listing")
    assert step.status == "failed" and "not settled within 2h" in step.error_message


def test_an_approval_is_reminded_once_and_its_timeout_default_still_applies(demo, owner, failing):
    run = start(
        demo,
        owner,
        approval_graph(timeout_seconds=7200, timeout_action="approved", remind_after="1h"),
    )
    assert run.status == "waiting"
    now = timezone.now()
    sweep(now=now + timedelta(minutes=90))
    sweep(now=now + timedelta(minutes=91))
    reminders = [m for m in mail.outbox if m.subject.startswith("Reminder")]
    assert len(reminders) == 1
    run = settle(sweep(now=now + timedelta(hours=3)), run)
    assert run.status == "succeeded"
    assert Approval.objects.get(run=run).status == "approved"
    # A settled approval is never reminded.
    reminders_send(now + timedelta(hours=4))
    assert len([m for m in mail.outbox if m.subject.startswith("Reminder")]) == 1


def test_two_sweepers_at_once_remind_once_and_expire_once(demo, owner, hook, failing):
    require_or_skip(
        connection.vendor == "postgresql", "row locks under concurrency need PostgreSQL"
    )
    use_webhook(demo["workspace"], owner, hook.url)
    policy = {"fallback_timeout": "24h", "fallback_timeout_action": "branch"}
    run = start(
        demo,
        owner,
        failing_graph(on_failure="ask", fallback_remind_after="1h", **policy),
    )
    assert run.status == "waiting"
    now = timezone.now()

    def both(at):
        barrier = threading.Barrier(2)
        kicks: list[set[int]] = []

        def one():
            barrier.wait()
            try:
                kicks.append(sweep(now=at))
            finally:
                connection.close()

        threads = [threading.Thread(target=one) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return set().union(*kicks)

    both(now + timedelta(hours=2))
    assert len([m for m in mail.outbox if m.subject.startswith("Reminder")]) == 1
    assert len([h for h in hook.received if "Reminder" in h["text"]]) == 1
    run = settle(both(now + timedelta(hours=25)), run)
    assert run.status == "succeeded" and run.result["problem"]["code"] == "task_timed_out"
    decided = RunEvent.objects.filter(run=run, kind="approval.decided").count()
    failed = RunEvent.objects.filter(run=run, kind="step.failed", node_id="listing").count()
    assert (decided, failed) == (1, 1)

"""Runs that cannot go on end with a reason instead of hanging: a stored version today's rules
refuse, and long evaluations of a cancelled run."""

from __future__ import annotations

import pytest

from builder.models import Flow, FlowVersion
from runs.executor import InlineExecutor
from runs.models import Run, RunEvent
from runs.services import run_cancel, run_start
from runs.services.advancing import _Cancelled

from .test_hot_path import chain


@pytest.mark.django_db
def test_a_version_that_no_longer_compiles_fails_its_run_with_a_reason(member, workspace):
    user = member("editor")
    graph = chain(1)
    # Saved before a rule existed: a prompt config with a field no prompt accepts today.
    graph["nodes"][1] = {**graph["nodes"][1], "type": "prompt", "config": {"prompt": "hi", "x": 1}}
    flow = Flow.objects.create(workspace=workspace, name="old", graph=chain(1))
    FlowVersion.objects.create(flow=flow, number=1, graph=graph, published=True)
    run = run_start(user=user, flow=flow, inputs={}, version=1)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.error_code == "graph_invalid"
    assert "no longer valid" in run.error_message
    kinds = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("kind", flat=True))
    assert kinds == ["run.queued", "run.started", "run.failed"]
    assert not run.steps.exists()


@pytest.mark.django_db
def test_a_long_evaluation_learns_that_its_run_was_cancelled(member, workspace):
    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name="c", graph=chain(1))
    run = run_start(user=user, flow=flow, inputs={}, use_draft=True)
    cancelled = _Cancelled(run.pk)
    assert cancelled() is False
    run_cancel(run=Run.objects.get(pk=run.pk), user=user)
    assert cancelled() is False  # asked again only after half a second
    cancelled.next_check = 0
    assert cancelled() is True

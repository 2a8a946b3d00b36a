"""Snapshotting the draft at run start: an unchanged draft reuses its snapshot without writing or
locking anything, so run starts do not queue behind one another."""

import copy
import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from builder.models import Flow
from builder.services import flow_save_draft, flow_snapshot_draft

from .graphs import find


def locking_or_writing(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().startswith(("INSERT", "UPDATE", "DELETE")) or "FOR UPDATE" in q["sql"]
    ]


def test_an_unchanged_draft_reuses_its_snapshot_without_a_lock(flow, editor):
    first = flow_snapshot_draft(flow=flow, user=editor)
    assert first.is_draft_snapshot and first.graph == flow.graph
    current = Flow.objects.get(pk=flow.pk)
    with CaptureQueriesContext(connection) as queries:
        again = flow_snapshot_draft(flow=current, user=editor)
    assert again.pk == first.pk
    assert locking_or_writing(queries) == []
    assert len(queries.captured_queries) == 1


def test_a_changed_draft_gets_a_new_snapshot(flow, editor):
    first = flow_snapshot_draft(flow=flow, user=editor)
    changed = copy.deepcopy(flow.graph)
    find(changed["nodes"], "polish")["label"] = "Changed"
    flow_save_draft(flow=flow, graph=changed, revision=flow.revision)
    second = flow_snapshot_draft(flow=Flow.objects.get(pk=flow.pk), user=editor)
    assert second.pk != first.pk and second.graph == changed
    # Snapshots take no version number: the next publish is still v1.
    assert first.number is None and second.number is None and second.label == "Draft snapshot"
    assert flow_snapshot_draft(flow=Flow.objects.get(pk=flow.pk), user=editor).pk == second.pk


def test_a_published_version_equal_to_the_draft_is_reused(flow, editor):
    from builder.services import flow_publish

    published = flow_publish(flow=flow, user=editor, note="v1")
    assert flow_snapshot_draft(flow=flow, user=editor).pk == published.pk
    assert flow.versions.count() == 1


def test_draft_runs_do_not_use_up_version_numbers(flow, editor):
    from builder.services import flow_publish

    flow_snapshot_draft(flow=flow, user=editor)
    changed = copy.deepcopy(flow.graph)
    find(changed["nodes"], "polish")["label"] = "Changed"
    flow_save_draft(flow=flow, graph=changed, revision=flow.revision)
    flow_snapshot_draft(flow=Flow.objects.get(pk=flow.pk), user=editor)
    published = flow_publish(flow=flow, user=editor, note="first")
    assert (published.number, published.label) == (1, "v1")


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_on_a_changed_draft_make_one_snapshot(flow, editor):
    flow_snapshot_draft(flow=flow, user=editor)
    changed = copy.deepcopy(flow.graph)
    find(changed["nodes"], "polish")["label"] = "Changed"
    flow_save_draft(flow=flow, graph=changed, revision=flow.revision)
    barrier = threading.Barrier(6)
    ids: list[int] = []

    def start() -> None:
        try:
            current = Flow.objects.get(pk=flow.pk)
            barrier.wait(timeout=10)
            ids.append(flow_snapshot_draft(flow=current, user=editor).pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(ids) == 6 and len(set(ids)) == 1
    assert flow.versions.count() == 2

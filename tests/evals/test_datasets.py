# ruff: noqa: F811
"""Datasets: CSV and JSONL uploads keep every valid row and report every bad one by number;
items from past runs; growing from approvals (approved → positive, edited → corrected expected,
rejected → negative), once per approval."""

import threading

import pytest
from django.db import connection

from builder.models import Flow
from config.domain import Invalid, NotAllowed, NotFound, TooLarge
from evals.datasets import (
    GROW_RUNS_MAX,
    MAX_UPLOAD_BYTES,
    dataset_add_runs,
    dataset_create,
    dataset_grow_from_approvals,
    dataset_grow_from_runs,
    dataset_upload,
)
from evals.models import DatasetItem
from runs.models import Approval
from runs.services import approval_decide, run_start
from tests.runs.support import fast_passwords, finish_inline, inline, memory_layer  # noqa: F401
from workspaces.models import Role

from .support import GRAPH, qa_flow


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "data-editor")


@pytest.fixture
def dataset(workspace, editor):
    return dataset_create(user=editor, workspace_id=workspace.pk, name="Support questions")


def test_dataset_csv_upload_flat_columns_tags_and_bad_rows(dataset, editor):
    content = (
        b"question,expected,tags,label\n"
        b'Where is my order?,It ships tomorrow,"shipping, easy",positive\n'
        b',"{""refund"": true}",refunds,\n'
        b"Cancel it,,,maybe\n"
        b"too,many,cells,here,extra\n"
        b"\n"
        b'Size chart?,"[1, 2]",,\n'
    )
    report = dataset_upload(user=editor, dataset=dataset, filename="q.csv", content=content)

    assert report.added == 2
    assert [(p.row, p.message) for p in report.problems] == [
        (3, "the row has no inputs"),
        (4, "label must be positive, negative or empty"),
        (5, "the row has more cells than the header"),
    ]
    first, second = DatasetItem.objects.filter(dataset=dataset).order_by("pk")
    assert first.inputs == {"question": "Where is my order?"}
    assert first.expected == "It ships tomorrow" and first.tags == ["shipping", "easy"]
    assert first.label == "positive" and first.source == "upload"
    assert second.inputs == {"question": "Size chart?"} and second.expected == [1, 2]


def test_dataset_csv_row_without_inputs_is_reported(dataset, editor):
    report = dataset_upload(
        user=editor, dataset=dataset, filename="q.csv", content=b"expected,tags\nyes,a\n"
    )
    assert report.added == 0
    assert report.problems[0].row == 2 and report.problems[0].message == "the row has no inputs"


def test_dataset_jsonl_upload_inputs_object_and_bad_lines(dataset, editor):
    content = b"\n".join(
        [
            b'{"inputs": {"question": "Hi"}, "expected": {"intent": "greeting"}, "tags": ["a"]}',
            b'{"question": "Flat works too"}',
            b"{not json",
            b"[1, 2]",
            b'{"inputs": "a string"}',
            b'{"inputs": {"q": 1}, "extra": 2}',
            b'{"inputs": {"q": 1}, "tags": [1]}',
        ]
    )
    report = dataset_upload(user=editor, dataset=dataset, filename="q.jsonl", content=content)
    assert report.added == 2
    assert [p.row for p in report.problems] == [3, 4, 5, 6, 7]
    assert report.problems[0].text == "{not json"  # what was sent comes back to fix
    assert "unknown column(s) next to inputs: extra" in report.problems[3].message
    item = DatasetItem.objects.filter(dataset=dataset).order_by("pk").first()
    assert item.expected == {"intent": "greeting"} and item.tags == ["a"]


@pytest.mark.parametrize(
    ("filename", "content", "error"),
    [
        ("q.xlsx", b"x", Invalid),
        ("q.csv", b"\xff\xfe\x00bad", Invalid),
        ("q.csv", b"", Invalid),
        ("q.jsonl", b"\n\n", Invalid),
        ("q.csv", b"a\n" + b"x" * MAX_UPLOAD_BYTES, TooLarge),
    ],
)
def test_dataset_upload_refuses_unusable_files(dataset, editor, filename, content, error):
    with pytest.raises(error):
        dataset_upload(user=editor, dataset=dataset, filename=filename, content=content)
    assert not DatasetItem.objects.exists()


def test_dataset_viewers_cannot_create_or_upload(workspace, member, dataset):
    viewer = member(Role.VIEWER, "data-viewer")
    with pytest.raises(NotAllowed):
        dataset_create(user=viewer, workspace_id=workspace.pk, name="Nope")
    with pytest.raises(NotAllowed):
        dataset_upload(user=viewer, dataset=dataset, filename="a.csv", content=b"q\n1\n")


def test_dataset_from_past_runs(inline, workspace, editor, dataset):
    flow = qa_flow(workspace, editor)
    runs = [
        finish_inline(run_start(user=editor, flow=flow, inputs={"question": q}), editor)
        for q in ("one", "two")
    ]
    assert dataset_add_runs(user=editor, dataset=dataset, run_ids=[r.pk for r in runs]) == 2
    assert dataset_add_runs(user=editor, dataset=dataset, run_ids=[r.pk for r in runs]) == 0
    items = list(dataset.items.order_by("pk"))
    assert [i.inputs for i in items] == [{"question": "one"}, {"question": "two"}]
    assert items[0].expected == "Scripted reply: Answer briefly: one"
    assert items[0].source == "run" and items[0].source_run_id == runs[0].pk


def test_dataset_grows_from_a_flows_latest_runs_once(inline, workspace, editor, dataset):
    flow = qa_flow(workspace, editor)
    for q in ("one", "two", "three"):
        finish_inline(run_start(user=editor, flow=flow, inputs={"question": q}), editor)
    first = dataset_grow_from_runs(user=editor, dataset=dataset, flow_id=flow.pk, limit=2)
    assert (first.added, first.found, first.flow_name) == (2, 2, "Support answers")
    assert sorted(i.inputs["question"] for i in dataset.items.all()) == ["three", "two"]
    again = dataset_grow_from_runs(user=editor, dataset=dataset, flow_id=flow.pk, limit=2)
    assert (again.added, again.found) == (0, 2)
    more = dataset_grow_from_runs(user=editor, dataset=dataset, flow_id=flow.pk, limit=20)
    assert (more.added, more.found) == (1, 3) and dataset.items.count() == 3


@pytest.mark.parametrize("limit", [0, -1, GROW_RUNS_MAX + 1])
def test_dataset_grow_from_runs_refuses_a_limit_out_of_bounds(workspace, editor, dataset, limit):
    flow = qa_flow(workspace, editor)
    with pytest.raises(Invalid, match="a whole number from 1 to 1,000"):
        dataset_grow_from_runs(user=editor, dataset=dataset, flow_id=flow.pk, limit=limit)


def test_dataset_grows_only_from_flows_of_its_workspace(
    workspace, other_workspace, editor, dataset
):
    foreign = Flow.objects.create(workspace=other_workspace, name="Theirs", graph=GRAPH)
    with pytest.raises(Invalid, match="Choose the flow"):
        dataset_grow_from_runs(user=editor, dataset=dataset, flow_id=None, limit=20)
    with pytest.raises(NotFound, match="not in this dataset's workspace"):
        dataset_grow_from_runs(user=editor, dataset=dataset, flow_id=foreign.pk, limit=20)
    with pytest.raises(NotFound, match="not in this dataset's workspace"):
        dataset_grow_from_approvals(user=editor, dataset=dataset, flow_id=foreign.pk)
    assert not dataset.items.exists()


@pytest.mark.django_db(transaction=True)
def test_dataset_add_runs_twice_at_once_adds_each_run_once(inline, workspace, editor, dataset):
    """The grow form posted twice at once (a double click): one call adds the runs, the other
    none of them, and neither fails on the dataset's one-item-per-run constraint."""
    flow = qa_flow(workspace, editor)
    run_ids = [
        finish_inline(run_start(user=editor, flow=flow, inputs={"question": q}), editor).pk
        for q in ("one", "two", "three")
    ]
    callers = 4
    start = threading.Barrier(callers)
    added: list[int] = []
    failures: list[BaseException] = []

    def grow() -> None:
        try:
            start.wait()
            added.append(dataset_add_runs(user=editor, dataset=dataset, run_ids=run_ids))
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=grow) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(added) == [0] * (callers - 1) + [3]
    assert sorted(dataset.items.values_list("source_run_id", flat=True)) == sorted(run_ids)


APPROVAL_GRAPH = {
    "schema_version": 1,
    "nodes": [
        *GRAPH["nodes"][:2],
        {
            "id": "review",
            "type": "approval",
            "position": {"x": 480, "y": 0},
            "config": {"show": ["nodes.answer.output"], "allow_edit": True},
        },
        {"id": "done", "type": "output", "position": {"x": 720, "y": 0}, "config": {}},
        {"id": "declined", "type": "output", "position": {"x": 720, "y": 200}, "config": {}},
    ],
    "edges": [
        GRAPH["edges"][0],
        {"id": "e2", "source": "answer", "target": "review"},
        {"id": "e3", "source": "review", "source_port": "approved", "target": "done"},
        {"id": "e4", "source": "review", "source_port": "rejected", "target": "declined"},
    ],
}


def test_dataset_grows_from_approvals(inline, workspace, member, dataset):
    from builder.models import Flow
    from runs.executor import InlineExecutor

    owner = member(Role.OWNER, "approver-owner")
    flow = Flow.objects.create(workspace=workspace, name="Reviewed", graph=APPROVAL_GRAPH)
    decisions = [("approved", None), ("approved", {"answer": "Corrected text"}), ("rejected", None)]
    approvals = []
    for i, (decision, payload) in enumerate(decisions):
        run = run_start(user=owner, flow=flow, inputs={"question": f"q{i}"})
        InlineExecutor().advance(run.pk)
        approval = Approval.objects.get(run=run)
        approval_decide(user=owner, approval_id=approval.pk, decision=decision, payload=payload)
        approvals.append(approval)

    assert dataset_grow_from_approvals(user=owner, dataset=dataset, flow_id=flow.pk) == 3
    assert dataset_grow_from_approvals(user=owner, dataset=dataset, flow_id=flow.pk) == 0
    items = {i.source_approval_id: i for i in dataset.items.all()}
    plain, edited, rejected = (items[a.pk] for a in approvals)
    assert plain.label == "positive" and plain.expected == approvals[0].payload
    assert edited.label == "positive" and edited.expected == {"answer": "Corrected text"}
    assert "edited" in edited.tags
    assert rejected.label == "negative" and rejected.expected == approvals[2].payload
    assert plain.inputs == {"question": "q0"} and plain.source == "approval"

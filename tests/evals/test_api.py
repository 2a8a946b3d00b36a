# ruff: noqa: F811
"""The evaluation API over HTTP (session and token): datasets, items, uploads, evaluations run
through the scripted model server, results, cancel and comparison; roles and workspace scoping;
bad input is a 4xx in the API's shape, never a 500."""

import json
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from builder.models import FlowVersion
from evals.models import Dataset, Evaluation, EvaluationItem
from runs.executor import InlineExecutor
from runs.models import Run
from runs.services import run_start
from tests.llmserver import text
from tests.runs.support import fast_passwords, inline, memory_layer  # noqa: F401
from workspaces.models import Role

from .support import GRAPH, capitals_dataset, qa_flow


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "api-editor")


@pytest.fixture
def viewer(member):
    return member(Role.VIEWER, "api-viewer")


@pytest.fixture
def stranger(make_user, other_workspace):
    from workspaces.models import Membership

    user = make_user("api-stranger")
    Membership.objects.create(workspace=other_workspace, user=user, role=Role.OWNER)
    return user


def shaped(response, status, code=None):
    assert response.status_code == status, response.content
    if status >= 400:
        body = response.json()
        assert {"detail", "code"} <= set(body), body
        if code:
            assert body["code"] == code, body
    return response.json() if response.content else None


def upload(api, dataset_id, name, content):
    return api.client.post(
        f"/api/datasets/{dataset_id}/upload",
        {"file": SimpleUploadedFile(name, content)},
        headers=api.headers,
    )


@pytest.mark.django_db
def test_dataset_create_list_get_and_delete(api_for, workspace, editor, viewer):
    api = api_for(editor, token=True)
    created = shaped(
        api.post("/api/datasets", {"workspace": workspace.pk, "name": "  Refunds  "}), 201
    )
    assert created["name"] == "Refunds" and created["items"] == 0
    assert created["created_by"] == "api-editor"
    listed = shaped(api.get(f"/api/datasets?workspace={workspace.pk}"), 200)
    assert listed["count"] == 1 and listed["items"][0]["id"] == created["id"]
    assert shaped(api.get(f"/api/datasets/{created['id']}"), 200)["name"] == "Refunds"

    # A viewer reads, but neither creates nor deletes.
    watcher = api_for(viewer)
    assert shaped(watcher.get(f"/api/datasets/{created['id']}"), 200)["id"] == created["id"]
    shaped(watcher.post("/api/datasets", {"workspace": workspace.pk, "name": "X"}), 403)
    shaped(watcher.delete(f"/api/datasets/{created['id']}"), 403, "forbidden")

    shaped(api.delete(f"/api/datasets/{created['id']}"), 204)
    assert not Dataset.objects.exists()
    shaped(api.get(f"/api/datasets/{created['id']}"), 404, "not_found")


@pytest.mark.django_db
def test_datasets_of_another_workspace_are_not_found(
    api_for, workspace, other_workspace, editor, stranger
):
    dataset = capitals_dataset(workspace, editor, count=2)
    outsider = api_for(stranger, token=True)
    assert shaped(outsider.get("/api/datasets"), 200)["count"] == 0
    for call in (
        outsider.get(f"/api/datasets/{dataset.pk}"),
        outsider.get(f"/api/datasets/{dataset.pk}/items"),
        outsider.post(f"/api/datasets/{dataset.pk}/items", {"inputs": {"q": "x"}}),
        outsider.delete(f"/api/datasets/{dataset.pk}"),
        outsider.post(f"/api/datasets/{dataset.pk}/items/from-runs", {"runs": [1]}),
        upload(outsider, dataset.pk, "x.jsonl", b'{"inputs": {"q": 1}}'),
    ):
        shaped(call, 404, "not_found")
    # Nor may anyone create a dataset in a workspace they are not a member of.
    shaped(outsider.post("/api/datasets", {"workspace": workspace.pk, "name": "Mine"}), 404)
    assert dataset.items.count() == 2


@pytest.mark.django_db
def test_the_api_needs_authentication(client, workspace, editor):
    dataset = capitals_dataset(workspace, editor, count=1)
    for path in ("/api/datasets", f"/api/datasets/{dataset.pk}", "/api/evaluations"):
        shaped(client.get(path), 401, "unauthorized")
    shaped(
        client.post("/api/datasets", {"workspace": workspace.pk, "name": "x"}, "application/json"),
        401,
    )
    bearer = client.get("/api/datasets", headers={"Authorization": "Bearer sb_not-a-token"})
    shaped(bearer, 401)


@pytest.mark.django_db
def test_items_add_list_and_bad_items(api_for, workspace, editor):
    api = api_for(editor)
    dataset = capitals_dataset(workspace, editor, count=3)
    added = shaped(
        api.post(
            f"/api/datasets/{dataset.pk}/items",
            {"inputs": {"question": "capital of Peru"}, "expected": "Lima", "tags": ["geo"]},
        ),
        201,
    )
    assert added["source"] == "manual" and added["tags"] == ["geo"]
    page = shaped(api.get(f"/api/datasets/{dataset.pk}/items?limit=2&offset=2"), 200)
    assert page["count"] == 4 and [i["id"] for i in page["items"]][-1] == added["id"]
    assert len(page["items"]) == 2

    for body, code in (
        ({"inputs": {}}, "invalid_item"),  # no inputs at all
        ({"inputs": {"q": "x"}, "label": "maybe"}, "invalid_request"),
        ({"inputs": {"q": "x"}, "colour": "red"}, "invalid_request"),  # unknown field
        ({"inputs": "text"}, "invalid_request"),
        ({"inputs": {"q": "\x00"}}, "invalid_request"),  # unstorable
        ({"inputs": {"q": "x" * 100_001}}, "invalid_item"),
    ):
        answer = api.post(f"/api/datasets/{dataset.pk}/items", body)
        assert answer.status_code == 422, (body, answer.content)
        assert answer.json()["code"] == code, (body, answer.json())
    assert dataset.items.count() == 4
    shaped(api.get(f"/api/datasets/{dataset.pk}/items?limit=0"), 422)
    shaped(api.get(f"/api/datasets/{dataset.pk}/items?offset=-1"), 422)
    shaped(api.get(f"/api/datasets/{2**63}/items"), 422)


@pytest.mark.django_db
def test_upload_jsonl_and_csv_reports_each_bad_row(api_for, workspace, editor):
    api = api_for(editor, token=True)
    dataset = shaped(api.post("/api/datasets", {"workspace": workspace.pk, "name": "Up"}), 201)
    good_and_bad = b'{"inputs": {"q": "a"}, "expected": "A"}\nnot json\n[1]\n{"inputs": {"q": "b"}}'
    report = shaped(upload(api, dataset["id"], "rows.jsonl", good_and_bad), 201)
    assert report["added"] == 2
    assert [(p["row"], p["message"][:8]) for p in report["problems"]] == [
        (2, "not JSON"),
        (3, "each lin"),
    ]
    csv_report = shaped(upload(api, dataset["id"], "rows.csv", b"q,expected,tags\nc,C,x;y\n"), 201)
    assert csv_report == {"added": 1, "problems": []}
    items = Dataset.objects.get(pk=dataset["id"]).items.order_by("pk")
    assert [i.inputs for i in items] == [{"q": "a"}, {"q": "b"}, {"q": "c"}]
    assert items[2].tags == ["x", "y"]

    shaped(upload(api, dataset["id"], "rows.xlsx", b"q\n1\n"), 422, "invalid_upload")
    shaped(upload(api, dataset["id"], "rows.csv", b"\xff\xfe\x00"), 422, "invalid_upload")
    shaped(upload(api, dataset["id"], "rows.jsonl", b"\n\n"), 422, "invalid_upload")
    shaped(api.post(f"/api/datasets/{dataset['id']}/upload", {"file": "x"}), 422)
    big = b'{"inputs": {"q": "' + b"x" * (5 * 1024 * 1024) + b'"}}'
    shaped(upload(api, dataset["id"], "big.jsonl", big), 413, "too_large")
    assert items.count() == 3


@pytest.mark.django_db(transaction=True)
def test_items_from_past_runs_and_approvals(api_for, inline, workspace, editor, other_workspace):
    flow = qa_flow(workspace, editor)
    runs = [
        run_start(user=editor, flow=flow, inputs={"question": q}, use_draft=True)
        for q in ("one", "two")
    ]
    for run in runs:
        InlineExecutor().advance(run.pk)
    api = api_for(editor)
    dataset = shaped(api.post("/api/datasets", {"workspace": workspace.pk, "name": "Past"}), 201)
    path = f"/api/datasets/{dataset['id']}/items/from-runs"
    assert shaped(api.post(path, {"runs": [runs[0].pk]}), 201) == {"added": 1}
    # By flow: the latest succeeded runs; the one already in is not added twice.
    assert shaped(api.post(path, {"flow": flow.pk, "limit": 10}), 201) == {"added": 1}
    items = list(Dataset.objects.get(pk=dataset["id"]).items.order_by("pk"))
    assert [i.inputs["question"] for i in items] == ["one", "two"]
    assert items[0].expected == "Scripted reply: Answer briefly: one"
    assert items[0].source == "run" and items[0].source_run_id == runs[0].pk
    shaped(api.post(path, {}), 422, "no_runs")
    foreign = qa_flow(other_workspace, editor, name="Elsewhere")
    shaped(api.post(path, {"flow": foreign.pk}), 404)
    shaped(api.post(path, {"runs": [0]}), 422)
    shaped(api.post(path, {"runs": list(range(1, 1100))}), 422)
    approvals = f"/api/datasets/{dataset['id']}/items/from-approvals"
    assert shaped(api.post(approvals, {}), 201) == {"added": 0}


@pytest.mark.django_db
def test_a_dataset_that_was_evaluated_is_kept(api_for, workspace, editor):
    dataset = capitals_dataset(workspace, editor, count=1)
    flow = qa_flow(workspace, editor)
    version = FlowVersion.objects.create(flow=flow, number=1, graph=GRAPH, published=True)
    Evaluation.objects.create(
        workspace=workspace, flow=flow, version=version, dataset=dataset, item_count=1
    )
    shaped(api_for(editor).delete(f"/api/datasets/{dataset.pk}"), 409, "dataset_in_use")
    assert Dataset.objects.filter(pk=dataset.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_evaluation_start_progress_results_and_compare(api_for, inline, workspace, editor):
    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=4)
    api = api_for(editor, token=True)
    body = {
        "flow": flow.pk,
        "dataset": dataset.pk,
        "use_draft": True,
        "scorers": [{"type": "contains"}],
        "concurrency": 2,
    }
    first = shaped(api.post("/api/evaluations", body), 202)
    # The inline executor drives it to its end inside the request.
    assert first["status"] == "succeeded" and first["version_number"] is None
    assert first["summary"]["done"] == 4 and first["summary"]["pass_rate"] == 1.0
    assert first["url"] == f"/evals/evaluations/{first['id']}/"

    # The second configuration fails Oslo: a regression against the first.
    inline.on("Oslo", text("No idea."))
    second = shaped(api.post("/api/evaluations", body), 202)
    detail = shaped(api.get(f"/api/evaluations/{second['id']}"), 200)
    assert detail["summary"] == {**detail["summary"], "passed": 3, "failed": 1, "percent": 100}

    results = shaped(api.get(f"/api/evaluations/{second['id']}/items"), 200)
    assert results["count"] == 4 and [r["position"] for r in results["items"]] == [1, 2, 3, 4]
    failed = shaped(api.get(f"/api/evaluations/{second['id']}/items?status=failed"), 200)
    (oslo,) = failed["items"]
    assert oslo["output"] == "No idea." and oslo["passed"] is False
    assert oslo["scores"][0]["reason"] == "does not contain “Oslo”"
    assert Run.objects.get(pk=oslo["run"]).trigger == "eval"

    compared = shaped(
        api.get(f"/api/evaluations/compare?left={first['id']}&right={second['id']}"), 200
    )
    assert compared["same_dataset"] is True
    assert compared["pass_rate_delta"] == -0.25
    assert compared["counts"]["regression"] == 1 and compared["counts"]["same"] == 3
    assert compared["items"][0]["change"] == "regression"
    assert compared["items"][0]["left"]["passed"] is True
    assert compared["items"][0]["right"]["output"] == "No idea."

    listed = shaped(api.get(f"/api/evaluations?flow={flow.pk}"), 200)
    assert [e["id"] for e in listed["items"]] == [second["id"], first["id"]]
    assert shaped(api.get(f"/api/evaluations?dataset={dataset.pk}&limit=1"), 200)["count"] == 2


@pytest.mark.django_db(transaction=True)
def test_evaluation_of_a_published_version_and_bad_starts(api_for, inline, workspace, editor):
    flow = qa_flow(workspace, editor)
    FlowVersion.objects.create(flow=flow, number=3, graph=GRAPH, published=True)
    dataset = capitals_dataset(workspace, editor, count=1)
    api = api_for(editor)
    started = shaped(
        api.post("/api/evaluations", {"flow": flow.pk, "dataset": dataset.pk, "version": 3}), 202
    )
    assert started["version_number"] == 3
    empty = shaped(api.post("/api/datasets", {"workspace": workspace.pk, "name": "E"}), 201)
    base = {"flow": flow.pk, "dataset": dataset.pk}
    for body, status, code in (
        ({**base, "version": 9}, 404, "not_found"),
        ({**base, "version": 3, "use_draft": True}, 422, "invalid_version"),
        ({**base, "dataset": empty["id"]}, 422, "empty_dataset"),
        ({**base, "scorers": [{"type": "eval"}]}, 422, "invalid_scorers"),
        ({**base, "scorers": [{"type": "judge", "rubric": "r", "threshold": 1e308}]}, 422, None),
        ({**base, "scorers": [{"type": "regex", "pattern": "("}]}, 422, "invalid_scorers"),
        ({**base, "concurrency": 0}, 422, "invalid_request"),
        ({**base, "concurrency": 33}, 422, "invalid_request"),
        ({**base, "flow": 2**63}, 422, "invalid_request"),
        ({**base, "dataset": "1"}, 422, "invalid_request"),
        ({**base, "flow": 999_999}, 404, "not_found"),
    ):
        shaped(api.post("/api/evaluations", body), status, code)
    shaped(api.get("/api/evaluations/compare?left=1"), 422)
    shaped(api.get("/api/evaluations/999999"), 404)
    shaped(api.get(f"/api/evaluations/{started['id']}/items?status=bogus"), 422)
    assert Evaluation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_evaluation_roles_and_scoping(
    api_for, inline, workspace, other_workspace, editor, viewer, stranger
):
    from workspaces.models import Membership

    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=1)
    evaluation = shaped(
        api_for(editor).post(
            "/api/evaluations", {"flow": flow.pk, "dataset": dataset.pk, "use_draft": True}
        ),
        202,
    )
    watcher = api_for(viewer, token=True)
    assert shaped(watcher.get(f"/api/evaluations/{evaluation['id']}"), 200)["status"]
    shaped(
        watcher.post("/api/evaluations", {"flow": flow.pk, "dataset": dataset.pk}), 403, "forbidden"
    )
    shaped(watcher.post(f"/api/evaluations/{evaluation['id']}/cancel"), 403, "forbidden")

    outsider = api_for(stranger)
    assert shaped(outsider.get("/api/evaluations"), 200)["count"] == 0
    for call in (
        outsider.get(f"/api/evaluations/{evaluation['id']}"),
        outsider.get(f"/api/evaluations/{evaluation['id']}/items"),
        outsider.post(f"/api/evaluations/{evaluation['id']}/cancel"),
        outsider.get(f"/api/evaluations/compare?left={evaluation['id']}&right={evaluation['id']}"),
        outsider.post("/api/evaluations", {"flow": flow.pk, "dataset": dataset.pk}),
    ):
        shaped(call, 404, "not_found")
    # A dataset of another workspace is not found for a flow of this one, even by its owner.
    theirs = Dataset.objects.create(workspace=other_workspace, name="Theirs")
    Membership.objects.create(workspace=other_workspace, user=editor, role=Role.OWNER)
    shaped(
        api_for(editor).post("/api/evaluations", {"flow": flow.pk, "dataset": theirs.pk}),
        404,
        "not_found",
    )


class Parked:
    """Kicks are collected, not executed: the evaluation stays in flight."""

    def __init__(self):
        self.kicked: list[int] = []

    def advance(self, run_id, *, redispatch=False):
        self.kicked.append(run_id)


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_an_evaluation_in_flight(api_for, inline, workspace, editor):
    from runs.executor import set_executor
    from tests.runs.support import wait_until

    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=5)
    api = api_for(editor)
    # Kicks go nowhere: the driver (a thread now) starts the first items' runs, which stay
    # queued, and the rest wait.
    set_executor(Parked())
    started = shaped(
        api.post(
            "/api/evaluations",
            {"flow": flow.pk, "dataset": dataset.pk, "use_draft": True, "concurrency": 2},
        ),
        202,
    )
    assert started["status"] == "running"
    wait_until(lambda: Run.objects.filter(flow=flow).count() == 2)
    progress = shaped(api.get(f"/api/evaluations/{started['id']}"), 200)
    assert progress["summary"]["running"] == 2 and progress["summary"]["done"] == 0
    cancelled = shaped(api.post(f"/api/evaluations/{started['id']}/cancel"), 200)
    assert cancelled["status"] == "cancelled"
    # The driver sees it and stops.
    wait_until(lambda: f"evaluation-{started['id']}" not in {t.name for t in threading.enumerate()})
    assert set(EvaluationItem.objects.values_list("status", flat=True)) == {"cancelled"}
    assert set(Run.objects.filter(flow=flow).values_list("status", flat=True)) == {"cancelled"}
    assert Run.objects.filter(flow=flow).count() == 2
    # Idempotent.
    again = shaped(api.post(f"/api/evaluations/{started['id']}/cancel"), 200)
    assert again["status"] == "cancelled"


@pytest.mark.django_db
def test_the_evaluation_api_is_in_the_openapi_document(api_for, editor):
    document = api_for(editor).get("/api/openapi.json").json()
    paths = set(document["paths"])
    assert {
        "/api/datasets",
        "/api/datasets/{dataset_id}",
        "/api/datasets/{dataset_id}/items",
        "/api/datasets/{dataset_id}/upload",
        "/api/datasets/{dataset_id}/items/from-runs",
        "/api/evaluations",
        "/api/evaluations/compare",
        "/api/evaluations/{evaluation_id}",
        "/api/evaluations/{evaluation_id}/items",
        "/api/evaluations/{evaluation_id}/cancel",
    } <= paths
    assert "EvaluationIn" in json.dumps(document["paths"]["/api/evaluations"])

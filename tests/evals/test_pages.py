# ruff: noqa: F811
"""The evaluation pages: datasets, upload with per-row problems, starting an evaluation,
progress, comparison; scoping (a foreign id is a 404) and roles (viewers can't write)."""

import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from builder.models import Flow, FlowVersion
from evals.datasets import (
    MAX_UPLOAD_BYTES,
    REPORT_PROBLEMS,
    REPORT_TEXT_CHARS,
    REPORTS_KEPT,
    dataset_create,
)
from evals.models import Dataset, DatasetUpload, Evaluation
from evals.services import evaluation_summary
from runs.services import run_start
from tests.llmserver import text
from tests.runs.support import fast_passwords, finish_inline, inline, memory_layer  # noqa: F401
from workspaces.models import Role

from .support import GRAPH, capitals_dataset, qa_flow


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "page-editor")


def test_pages_dataset_list_create_and_empty_state(editor, workspace):
    client = client_for(editor)
    page = client.get("/evals/")
    assert page.status_code == 200 and "No dataset yet" in page.content.decode()
    bad = client.post("/evals/", {"workspace": workspace.pk, "name": "  "})
    assert bad.status_code == 422 and "Give the dataset a name." in bad.content.decode()
    made = client.post("/evals/", {"workspace": workspace.pk, "name": "Refunds"})
    dataset = Dataset.objects.get(name="Refunds")
    assert made.status_code == 302 and made["Location"] == f"/evals/datasets/{dataset.pk}/"
    assert "No items yet" in client.get(made["Location"]).content.decode()


def test_pages_upload_redirects_to_its_report(editor, workspace):
    dataset = dataset_create(user=editor, workspace_id=workspace.pk, name="Q")
    upload = SimpleUploadedFile("q.csv", b"question,expected\nHi,Hello\n,\nBye,Ciao,extra\n")
    client = client_for(editor)
    posted = client.post(f"/evals/datasets/{dataset.pk}/upload/", {"file": upload})
    record = DatasetUpload.objects.get(dataset=dataset)
    assert posted.status_code == 302
    assert posted["Location"] == f"/evals/datasets/{dataset.pk}/uploads/{record.pk}/"
    page = client.get(posted["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "Added 1 item from q.csv" in html and "Row 4</strong>: the row has more cells" in html
    assert dataset.items.count() == 1
    # A reload of the report (the redirect's target) shows it again and adds nothing.
    again = client.get(posted["Location"])
    assert again.content.decode().count('data-testid="upload-report"') == 1
    assert dataset.items.count() == 1 and dataset.uploads.count() == 1
    # The dataset page itself shows no report.
    assert (
        'data-testid="upload-report"'
        not in client.get(f"/evals/datasets/{dataset.pk}/").content.decode()
    )


def test_pages_upload_refused_whole_answers_in_place(editor, workspace):
    dataset = dataset_create(user=editor, workspace_id=workspace.pk, name="Q")
    client = client_for(editor)
    missing = client.post(f"/evals/datasets/{dataset.pk}/upload/", {})
    assert missing.status_code == 422 and "Choose a CSV or JSONL file." in missing.content.decode()
    empty = SimpleUploadedFile("empty.csv", b"question\n")
    refused = client.post(f"/evals/datasets/{dataset.pk}/upload/", {"file": empty})
    html = refused.content.decode()
    assert refused.status_code == 422
    assert "empty.csv was not added: The file has no rows." in html
    assert 'data-testid="upload-form"' in html
    big = SimpleUploadedFile("big.csv", b"question\n" + b"x" * MAX_UPLOAD_BYTES)
    too_big = client.post(f"/evals/datasets/{dataset.pk}/upload/", {"file": big})
    assert too_big.status_code == 422 and "larger than 5 MB" in too_big.content.decode()
    assert not dataset.items.exists() and not dataset.uploads.exists()


def test_pages_upload_report_only_for_its_uploader(editor, member, workspace):
    dataset = dataset_create(user=editor, workspace_id=workspace.pk, name="Q")
    upload = SimpleUploadedFile("q.csv", b"question\nHi\n")
    posted = client_for(editor).post(f"/evals/datasets/{dataset.pk}/upload/", {"file": upload})
    colleague = client_for(member(Role.OWNER, "page-owner"))
    assert colleague.get(f"/evals/datasets/{dataset.pk}/").status_code == 200
    assert colleague.get(posted["Location"]).status_code == 404
    other = dataset_create(user=editor, workspace_id=workspace.pk, name="Other")
    record = dataset.uploads.get()
    wrong_dataset = f"/evals/datasets/{other.pk}/uploads/{record.pk}/"
    assert client_for(editor).get(wrong_dataset).status_code == 404


def test_pages_upload_report_is_bounded(editor, workspace):
    dataset = dataset_create(user=editor, workspace_id=workspace.pk, name="Q")
    rows = "".join(f"{{broken {n} {'x' * 600}\n" for n in range(REPORT_PROBLEMS + 7))
    upload = SimpleUploadedFile("bad.jsonl", ('{"inputs": {"q": "ok"}}\n' + rows).encode())
    client = client_for(editor)
    page = client.get(
        client.post(f"/evals/datasets/{dataset.pk}/upload/", {"file": upload})["Location"]
    )
    record = dataset.uploads.get()
    assert record.added == 1 and record.problem_count == REPORT_PROBLEMS + 7
    assert len(record.problems) == REPORT_PROBLEMS
    assert max(len(p["text"]) for p in record.problems) <= REPORT_TEXT_CHARS
    html = page.content.decode()
    assert f"{REPORT_PROBLEMS + 7} rows could not be added" in html and "… and 7 more." in html
    for _ in range(REPORTS_KEPT + 2):  # an uploader keeps their latest reports only
        client.post(
            f"/evals/datasets/{dataset.pk}/upload/",
            {"file": SimpleUploadedFile("q.csv", b"q\nHi\n")},
        )
    assert dataset.uploads.count() == REPORTS_KEPT
    assert dataset.items.count() == 1 + REPORTS_KEPT + 2


@pytest.mark.django_db(transaction=True)
def test_pages_start_an_evaluation_and_compare(inline, editor, workspace):
    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=3)
    client = client_for(editor)
    form = {"flow": flow.pk, "version": "draft", "scorer": "contains", "concurrency": "2"}
    first = client.post(f"/evals/datasets/{dataset.pk}/evaluate/", form)
    assert first.status_code == 302
    inline.on("Rome", text("Not sure."))
    second = client.post(f"/evals/datasets/{dataset.pk}/evaluate/", form)
    left, right = Evaluation.objects.filter(flow=flow).order_by("pk")
    page = client.get(second["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and 'data-status="succeeded"' in html
    assert html.count('data-testid="evaluation-item"') == 3
    assert "every 1s" not in html  # finished: no more polling
    progress = client.get(f"/evals/evaluations/{right.pk}/progress/")
    assert progress.status_code == 200 and "67%" in progress.content.decode()
    compare = client.get(f"/evals/compare/?left={left.pk}&right={right.pk}")
    body = compare.content.decode()
    assert compare.status_code == 200
    assert body.index('data-change="regression"') < body.index('data-change="same"')
    assert "−33.3 points" in body
    # Rates to a tenth of a point (two a point apart never both read "99%"), and the cost change.
    assert '<strong data-testid="compare-pass-rate">66.7%</strong>' in body
    before = float(evaluation_summary(left)["cost"])
    after = float(evaluation_summary(right)["cost"])
    change = round((after - before) / before * 100, 1)
    shown = "no change" if change == 0 else f"{'+' if change > 0 else '−'}{abs(change):.1f}% cost"
    assert f'data-testid="compare-cost-change">{shown}</span>' in body
    bad = client.post(f"/evals/datasets/{dataset.pk}/evaluate/", {**form, "scorer": "regex"})
    assert bad.status_code == 302 and bad["Location"] == f"/evals/datasets/{dataset.pk}/"
    assert "a regex scorer needs a pattern" in client.get(bad["Location"]).content.decode()


def notices(html: str, testid: str) -> list[str]:
    """The texts of the page's notices with that test id."""
    found = re.findall(
        rf'<div class="sb-notice[^"]*"[^>]*data-testid="{testid}">([^<]*)</div>', html
    )
    return [unescape(t) for t in found]


def test_pages_grow_from_past_runs_redirects_and_says_so_once(inline, editor, workspace):
    flow = qa_flow(workspace, editor)
    for question in ("one", "two"):
        finish_inline(run_start(user=editor, flow=flow, inputs={"question": question}), editor)
    dataset = dataset_create(user=editor, workspace_id=workspace.pk, name="Q")
    client = client_for(editor)
    grow = {"source": "runs", "flow": flow.pk, "limit": "20"}
    posted = client.post(f"/evals/datasets/{dataset.pk}/grow/", grow)
    assert posted.status_code == 302 and posted["Location"] == f"/evals/datasets/{dataset.pk}/"
    page = client.get(posted["Location"]).content.decode()
    assert notices(page, "dataset-notice") == ["Added 2 items from past runs of Support answers."]
    assert page.count('data-testid="dataset-item"') == 2
    # A reload of the page the POST redirected to adds nothing and says nothing again.
    again = client.get(posted["Location"]).content.decode()
    assert notices(again, "dataset-notice") == [] and 'role="status"' not in again
    assert dataset.items.count() == 2
    # The same form posted twice (back, submit again) adds no run a second time.
    twice = client.get(client.post(f"/evals/datasets/{dataset.pk}/grow/", grow)["Location"])
    assert notices(twice.content.decode(), "dataset-notice") == [
        "Added 0 items: the latest 2 successful runs of Support answers are already in the dataset."
    ]
    assert sorted(dataset.items.values_list("source_run__inputs__question", flat=True)) == [
        "one",
        "two",
    ]
    approvals = client.post(f"/evals/datasets/{dataset.pk}/grow/", {"source": "approvals"})
    assert approvals.status_code == 302
    assert notices(client.get(approvals["Location"]).content.decode(), "dataset-notice") == [
        "Added 0 items from decided approvals."
    ]


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"source": "runs", "flow": "", "limit": "20"}, "Choose the flow whose past runs to add."),
        ({"source": "runs", "flow": "abc", "limit": "20"}, "not in this dataset's workspace"),
        ({"source": "runs", "flow": "FOREIGN", "limit": "20"}, "not in this dataset's workspace"),
        ({"source": "approvals", "flow": "FOREIGN"}, "not in this dataset's workspace"),
        ({"source": "runs", "flow": "MINE", "limit": "lots"}, "a whole number from 1 to 1,000"),
        ({"source": "runs", "flow": "MINE", "limit": "0"}, "a whole number from 1 to 1,000"),
        ({"source": "runs", "flow": "MINE", "limit": "-3"}, "a whole number from 1 to 1,000"),
        ({"source": "runs", "flow": "MINE", "limit": "1001"}, "a whole number from 1 to 1,000"),
        ({"source": "runs", "flow": "MINE", "limit": "9" * 40}, "a whole number from 1 to 1,000"),
        ({"source": "everything", "flow": ""}, "Choose decided approvals or successful past runs."),
    ],
)
def test_pages_grow_refuses_bad_input_on_the_page(form, reason, editor, workspace, other_workspace):
    mine = qa_flow(workspace, editor, name="Mine")
    foreign = Flow.objects.create(workspace=other_workspace, name="Theirs", graph=GRAPH)
    ids = {"MINE": str(mine.pk), "FOREIGN": str(foreign.pk)}
    form = {key: ids.get(value, value) for key, value in form.items()}
    dataset = dataset_create(user=editor, workspace_id=workspace.pk, name="Q")
    client = client_for(editor)
    posted = client.post(f"/evals/datasets/{dataset.pk}/grow/", form)
    assert posted.status_code == 302 and posted["Location"] == f"/evals/datasets/{dataset.pk}/"
    page = client.get(posted["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    (error,) = notices(html, "grow-error")
    assert error.startswith("No items were added: ") and reason in error
    # The form comes back as it was sent.
    if form.get("source") == "runs":
        assert '<option value="runs" selected>' in html
        assert f'name="limit" inputmode="numeric" value="{form["limit"][:40]}"' in html
    if form.get("flow") == str(mine.pk):
        assert f'<option value="{mine.pk}" selected>Mine</option>' in html
    again = client.get(posted["Location"]).content.decode()
    assert notices(again, "grow-error") == [] and '<option value="runs" selected>' not in again
    assert not dataset.items.exists()


def test_pages_refused_start_redirects_back_with_the_form_kept(editor, workspace):
    qa_flow(workspace, editor, name="Another")
    flow = qa_flow(workspace, editor)
    FlowVersion.objects.create(flow=flow, number=1, graph=GRAPH, published=True)
    dataset = capitals_dataset(workspace, editor, count=1)
    client = client_for(editor)
    form = {
        "flow": flow.pk,
        "version": "1",
        "scorer": "regex",
        "pattern": "",
        "rubric": "Be <kind>",
        "flow_evaluators": "1",
        "concurrency": "3",
    }
    posted = client.post(f"/evals/datasets/{dataset.pk}/evaluate/", form)
    assert posted.status_code == 302 and posted["Location"] == f"/evals/datasets/{dataset.pk}/"
    html = client.get(posted["Location"]).content.decode()
    (error,) = notices(html, "start-error")
    assert error.startswith("The evaluation did not start: ")
    assert "a regex scorer needs a pattern" in error
    assert f'<option value="{flow.pk}" selected>Support answers</option>' in html
    assert f'<option value="1" data-flow="{flow.pk}" selected>' in html
    assert '<option value="regex" selected>' in html
    assert 'name="rubric" maxlength="5000" value="Be &lt;kind&gt;"' in html
    assert 'name="flow_evaluators" value="1" checked>' in html
    assert 'name="concurrency" inputmode="numeric" value="3"' in html
    # Once: a reload shows neither the error nor the choices (the form starts afresh).
    again = client.get(posted["Location"]).content.decode()
    assert notices(again, "start-error") == [] and " selected>" not in again
    assert 'name="concurrency" inputmode="numeric" value="4"' in again
    no_flow = client.post(f"/evals/datasets/{dataset.pk}/evaluate/", {**form, "flow": "x"})
    assert no_flow.status_code == 302
    assert notices(client.get(no_flow["Location"]).content.decode(), "start-error") == [
        "The evaluation did not start: Choose a flow to evaluate."
    ]
    assert not Evaluation.objects.exists()


def test_pages_scoping_and_roles(editor, workspace, other_workspace, member, make_user):
    dataset = dataset_create(user=editor, workspace_id=workspace.pk, name="Mine")
    outsider = make_user("outsider")
    from workspaces.models import Membership

    Membership.objects.create(user=outsider, workspace=other_workspace, role=Role.OWNER)
    client = client_for(outsider)
    assert client.get(f"/evals/datasets/{dataset.pk}/").status_code == 404
    assert client.post(f"/evals/datasets/{dataset.pk}/upload/").status_code == 404
    assert client.get("/evals/evaluations/99999/").status_code == 404
    assert client.get("/evals/compare/?left=1&right=x").status_code == 404
    viewer = client_for(member(Role.VIEWER, "page-viewer"))
    page = viewer.get(f"/evals/datasets/{dataset.pk}/")
    assert page.status_code == 200 and 'data-testid="upload-form"' not in page.content.decode()
    upload = SimpleUploadedFile("q.csv", b"question\nHi\n")
    assert viewer.post(f"/evals/datasets/{dataset.pk}/upload/", {"file": upload}).status_code == 403
    assert viewer.post(f"/evals/datasets/{dataset.pk}/evaluate/", {}).status_code == 403
    assert viewer.post(f"/evals/datasets/{dataset.pk}/grow/", {}).status_code == 403
    assert client.post(f"/evals/datasets/{dataset.pk}/grow/", {}).status_code == 404
    assert Client().get("/evals/").status_code == 302


@pytest.mark.parametrize(
    ("value", "shown"), [(None, "—"), (0.8, "80%"), (219 / 221, "99.1%"), (1.0, "100%")]
)
def test_pages_pass_rates_read_to_a_tenth_of_a_point(value, shown):
    from evals.templatetags.evals_pages import rate

    assert rate(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "—"), (0.0, "no change"), (-66.4, "−66.4% cost"), (12.0, "+12.0% cost")],
)
def test_pages_cost_changes_read_as_a_share(value, shown):
    from evals.templatetags.evals_pages import cost_change

    assert cost_change(value) == shown

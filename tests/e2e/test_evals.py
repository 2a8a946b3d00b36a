"""Evaluations and costs in a real browser: upload a dataset (a bad row reported), evaluate two
versions of a flow (the served app runs them on its own executor against the scripted model),
compare them with the regression first, and read where the money went on the cost page; grow a
dataset from past runs and have a start refused (each POST redirects: a reload repeats nothing)."""

import copy
import json
import re

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from builder.services import flow_publish
from evals.datasets import dataset_create
from runs.models import Run, RunStatus
from tests.evals.support import GRAPH
from tests.llmserver import text
from workspaces.models import Role

from .conftest import login

pytestmark = pytest.mark.e2e

STRONG = {"prompt_tokens": 900, "completion_tokens": 300}
CHEAP = {"prompt_tokens": 900, "completion_tokens": 300}
CITIES = ["Paris", "Oslo", "Rome", "Lima", "Cairo"]


def graph_with(model: str) -> dict:
    graph = copy.deepcopy(GRAPH)
    graph["nodes"][1]["config"]["model"] = model
    return graph


@pytest.fixture
def versions(workspace, member):
    owner = member(Role.OWNER, "eval-owner")
    flow = Flow.objects.create(
        workspace=workspace, name="Capital answers", graph=graph_with("openai/gpt-4o")
    )
    strong = flow_publish(flow=flow, user=owner)
    flow.graph = graph_with("openai/gpt-4o-mini")
    flow.save(update_fields=["graph"])
    cheap = flow_publish(flow=flow, user=owner)
    return owner, flow, strong, cheap


def fits_1280(page) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.set_viewport_size({"width": 1440, "height": 900})


def start_evaluation(page, flow, version) -> None:
    form = page.get_by_test_id("evaluate-form")
    form.locator("select[name=flow]").select_option(str(flow.pk))
    form.locator("select[name=version]").select_option(str(version.number))
    form.locator("select[name=scorer]").select_option("contains")
    expect(form.locator("input[name=pattern]")).to_be_hidden()  # only the chosen scorer's fields
    page.get_by_test_id("evaluate-start").click()
    page.wait_for_url(re.compile(r"/evals/evaluations/\d+/$"))
    # The results poll in place until every item is scored.
    expect(page.locator("#evaluation-results")).to_have_attribute(
        "data-status", "succeeded", timeout=60_000
    )
    expect(page.get_by_test_id("evaluation-done")).to_have_text("5/5")


def test_evals_upload_evaluate_compare_and_costs(page, versions, llm_server, artifacts, tmp_path):
    owner, flow, strong, cheap = versions
    llm_server.on(
        lambda r: r.get("model") == "gpt-4o",
        lambda r: text("Scripted reply: " + r["messages"][-1]["content"], usage=STRONG),
    )
    llm_server.on(
        lambda r: r.get("model") == "gpt-4o-mini" and "Rome" in json.dumps(r["messages"]),
        text("I am not sure.", usage=CHEAP),
    )
    llm_server.on(
        lambda r: r.get("model") == "gpt-4o-mini",
        lambda r: text("Scripted reply: " + r["messages"][-1]["content"], usage=CHEAP),
    )
    login(page, owner)

    # A dataset, uploaded as JSONL with one broken line.
    page.get_by_role("link", name="Evaluations").click()
    expect(page.get_by_test_id("datasets-empty")).to_be_visible()
    page.get_by_test_id("dataset-create").locator("input[name=name]").fill("Capitals")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_test_id("items-empty")).to_be_visible()
    # A file refused whole is answered in place, with the form and the reason.
    wrong = tmp_path / "capitals.xlsx"
    wrong.write_bytes(b"PK not a spreadsheet we read")
    page.get_by_test_id("upload-file").set_input_files(str(wrong))
    page.get_by_test_id("upload-submit").click()
    expect(page.get_by_test_id("upload-error")).to_have_text(
        "capitals.xlsx was not added: Upload a .csv or a .jsonl file."
    )
    expect(page.get_by_test_id("upload-form")).to_be_visible()
    page.screenshot(path=artifacts / "evals-upload-refused.png", full_page=True)
    lines = [json.dumps({"inputs": {"question": f"capital of {c}"}, "expected": c}) for c in CITIES]
    lines.insert(2, "{broken")
    upload = tmp_path / "capitals.jsonl"
    upload.write_text("\n".join(lines))
    page.get_by_test_id("upload-file").set_input_files(str(upload))
    page.get_by_test_id("upload-submit").click()
    # The POST redirects to the upload's report (the dataset page with it on top).
    page.wait_for_url(re.compile(r"/evals/datasets/\d+/uploads/\d+/$"))
    report = page.get_by_test_id("upload-report")
    expect(report).to_contain_text("Added 5 items from capitals.jsonl")
    expect(page.get_by_test_id("upload-problems")).to_contain_text("Row 3: not JSON")
    expect(page.get_by_test_id("dataset-item")).to_have_count(5)
    page.screenshot(path=artifacts / "evals-dataset.png", full_page=True)
    # A reload shows the same report and adds nothing (no form to resubmit).
    page.reload()
    expect(report).to_contain_text("Added 5 items from capitals.jsonl")
    expect(page.get_by_test_id("dataset-item")).to_have_count(5)
    assert flow.workspace.datasets.get().items.count() == 5
    page.get_by_test_id("upload-report-close").click()
    expect(report).to_have_count(0)
    expect(page.get_by_test_id("dataset-item")).to_have_count(5)

    # Evaluate the strong version, then the cheap one.
    start_evaluation(page, flow, strong)
    expect(page.get_by_test_id("evaluation-pass-rate")).to_have_text("100%")
    page.get_by_role("link", name="Capitals").click()
    start_evaluation(page, flow, cheap)
    expect(page.get_by_test_id("evaluation-pass-rate")).to_have_text("80%")
    failed = page.locator("[data-testid=evaluation-item][data-status=failed]")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("I am not sure.")
    expect(failed.get_by_role("link", name=re.compile(r"#\d+"))).to_be_visible()
    fits_1280(page)
    page.screenshot(path=artifacts / "evals-evaluation.png", full_page=True)

    # Compare: the regression comes first.
    page.get_by_test_id("compare-baseline").click()
    expect(page.get_by_test_id("compare-regressions")).to_have_text("1")
    expect(page.get_by_test_id("compare-pass-rate")).to_have_text("80%")
    rows = page.get_by_test_id("compare-item")
    expect(rows.first).to_have_attribute("data-change", "regression")
    expect(rows.first).to_contain_text("capital of Rome")
    expect(page.get_by_test_id("eval-compare-totals")).to_contain_text("−20.0 points")
    fits_1280(page)
    page.screenshot(path=artifacts / "evals-compare.png", full_page=True)

    # The cost page: where the money went, by model; a budget set from the page.
    page.get_by_role("link", name="Costs").click()
    expect(page.get_by_test_id("cost-chart")).to_be_visible()
    by_model = page.get_by_test_id("cost-by-model")
    expect(by_model).to_contain_text("openai/gpt-4o-mini")
    expect(by_model.locator("tbody tr").first).to_contain_text("openai/gpt-4o")
    expect(page.get_by_test_id("cost-by-node")).to_contain_text("answer")
    form = page.get_by_test_id("budget-form")
    form.locator("input[name=limit]").fill("0.05")
    form.locator("input[name=alert_percent]").fill("10")
    form.get_by_role("button", name="Save budget").click()
    expect(page.get_by_test_id("budget-row")).to_have_count(1)
    expect(page.get_by_test_id("budget-alert")).to_contain_text("daily budget is at")
    fits_1280(page)
    page.screenshot(path=artifacts / "cost-page.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_test_id("costs-export").click()
    exported = download.value.path().read_text()
    assert exported.splitlines()[0].startswith("day,flow_id,flow,node,model,calls")
    assert exported.count("openai/gpt-4o-mini") == 1


def test_evals_grow_from_past_runs_and_a_refused_start(page, versions, artifacts):
    owner, flow, strong, _cheap = versions
    for city in ("Paris", "Oslo"):
        Run.objects.create(
            flow=flow,
            version=strong,
            workspace=flow.workspace,
            status=RunStatus.SUCCEEDED,
            inputs={"question": f"capital of {city}"},
            result={"done": city},
            created_by=owner,
        )
    dataset = dataset_create(user=owner, workspace_id=flow.workspace_id, name="Capitals")
    dataset_url = re.compile(rf"/evals/datasets/{dataset.pk}/$")
    login(page, owner)
    page.goto(f"/evals/datasets/{dataset.pk}/")
    grow = page.get_by_test_id("grow-form")

    # Past runs without naming the flow: refused on the page, the form as it was sent.
    grow.get_by_test_id("grow-source").select_option("runs")
    grow.locator("input[name=limit]").fill("5")
    page.get_by_test_id("grow-submit").click()
    page.wait_for_url(dataset_url)
    expect(page.get_by_test_id("grow-error")).to_have_text(
        "No items were added: Choose the flow whose past runs to add."
    )
    expect(grow.get_by_test_id("grow-source")).to_have_value("runs")
    expect(grow.locator("input[name=limit]")).to_have_value("5")
    page.screenshot(path=artifacts / "evals-grow-refused.png", full_page=True)

    grow.get_by_test_id("grow-flow").select_option(str(flow.pk))
    page.get_by_test_id("grow-submit").click()
    page.wait_for_url(dataset_url)
    notice = page.get_by_test_id("dataset-notice")
    expect(notice).to_have_text("Added 2 items from past runs of Capital answers.")
    expect(page.get_by_test_id("grow-error")).to_have_count(0)
    expect(page.get_by_test_id("dataset-item")).to_have_count(2)
    fits_1280(page)
    page.screenshot(path=artifacts / "evals-dataset-grown.png", full_page=True)
    # The POST redirected: a reload is a GET that adds nothing and says nothing again.
    page.reload()
    expect(page.get_by_test_id("dataset-item")).to_have_count(2)
    expect(notice).to_have_count(0)
    expect(grow.get_by_test_id("grow-source")).to_have_value("approvals")
    # The same form sent again adds no run twice.
    grow.get_by_test_id("grow-source").select_option("runs")
    grow.get_by_test_id("grow-flow").select_option(str(flow.pk))
    page.get_by_test_id("grow-submit").click()
    page.wait_for_url(dataset_url)
    expect(notice).to_have_text(
        "Added 0 items: the latest 2 successful runs of Capital answers are already in the dataset."
    )
    expect(page.get_by_test_id("dataset-item")).to_have_count(2)
    assert dataset.items.count() == 2

    # A refused start comes back to the dataset page with the reason and every choice kept.
    form = page.get_by_test_id("evaluate-form")
    form.locator("select[name=flow]").select_option(str(flow.pk))
    form.locator("select[name=version]").select_option(str(strong.number))
    form.locator("select[name=scorer]").select_option("regex")
    form.locator("input[name=concurrency]").fill("3")
    page.get_by_test_id("evaluate-start").click()
    page.wait_for_url(dataset_url)
    expect(page.get_by_test_id("start-error")).to_have_text(
        "The evaluation did not start: Some scorers are not valid. "
        "Scorer 1 (Matches a pattern): a regex scorer needs a pattern."
    )
    expect(form.locator("select[name=flow]")).to_have_value(str(flow.pk))
    expect(form.locator("select[name=version]")).to_have_value(str(strong.number))
    expect(form.locator("select[name=scorer]")).to_have_value("regex")
    expect(form.locator("input[name=pattern]")).to_be_visible()  # the chosen scorer's field
    expect(form.locator("input[name=concurrency]")).to_have_value("3")
    fits_1280(page)
    page.screenshot(path=artifacts / "evals-start-refused.png", full_page=True)
    page.reload()
    expect(page.get_by_test_id("start-error")).to_have_count(0)
    expect(form.locator("select[name=scorer]")).to_have_value("")
    assert not flow.evaluations.exists()


def test_evals_cost_page_empty_state(page, member, artifacts):
    viewer = member(Role.VIEWER, "cost-viewer-e2e")
    login(page, viewer)
    page.goto("/costs/")
    expect(page.get_by_test_id("costs-empty")).to_contain_text("No model spend")
    page.screenshot(path=artifacts / "cost-empty.png", full_page=True)

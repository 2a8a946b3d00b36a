"""The issue's "done when", in a real browser: a PM sets a prompt's model to Automatic in the
inspector, publishes it, evaluates that version and the hand-picked strong one over an uploaded
dataset, sees on the compare page that the automatic one passes as often for a fraction of the
cost, opens a routed item's run, and reads on the cost page where the money went (and what
routing saved). Screenshots go to test-artifacts/ (done-when-*.png)."""

import json
import re

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from builder.services import flow_publish
from tests.llmserver import last_user_message, text
from workspaces.models import Role

from .conftest import login
from .test_editor import select, wait_saved

pytestmark = pytest.mark.e2e

EASY = {
    "What are your opening hours?": "KB-1004",
    "How do I reset my password?": "KB-1001",
    "Where can I download my invoices?": "KB-1003",
    "Do you ship internationally?": "KB-1009",
    "How do I delete my account?": "KB-1007",
}
HARD = {
    "I ordered 12 units at $35 each and 3 arrived damaged. Calculate step by step the refund "
    "with a 15% restocking fee on the undamaged returns.": "REFUND $360.75",
    "Debug this log step by step and explain the root cause: POST /hooks -> 401 (token "
    "expired), retry 1 -> 401, retry 2 -> 401.": "KB-3102",
}
EXPECTED = {**EASY, **HARD}
USAGE = {"prompt_tokens": 800, "completion_tokens": 200}


def graph() -> dict:
    def node(node_id, type_, x, **config):
        return {
            "id": node_id,
            "type": type_,
            "label": node_id,
            "position": {"x": x, "y": 0},
            "config": config,
        }

    def edge(source, target, port="out"):
        return {
            "id": f"{source}-{port}-{target}",
            "source": source,
            "source_port": port,
            "target": target,
            "target_port": "in",
        }

    schema = {"type": "object", "properties": {"question": {"type": "string"}}}
    rules = [{"kind": "regex", "value": r"Reference: \S", "message": "cite the reference"}]
    return {
        "schema_version": 1,
        "nodes": [
            node("question", "input", 0, schema=schema),
            node(
                "answer",
                "prompt",
                260,
                model="openai/gpt-4o",
                # The models automatic routing may pick: the scripted ones. Left empty, auto may
                # pick the bundled local model where it is installed (CI), whose real answers
                # this test cannot script: a hard item then went local → gpt-4.1-mini and ran
                # out of evaluator passes before reaching gpt-4o (86% instead of 100%).
                candidates=["openai/gpt-4.1-mini", "openai/gpt-4o"],
                prompt="{{ inputs.question }}",
                system="You are a support desk. Cite 'Reference: …'.",
                max_tokens=300,
                temperature=0,
            ),
            node("check", "evaluator", 520, rules=rules, max_attempts=2),
            node("done", "output", 780, value="{{ nodes.answer.output }}"),
        ],
        "edges": [
            edge("question", "answer"),
            edge("answer", "check"),
            edge("check", "done", "pass"),
            edge("check", "answer", "fail"),
        ],
    }


def scripted(server) -> None:
    """gpt-4o answers everything; every cheaper model answers the lookups and hedges on the
    multi-step requests (the evaluator catches the hedge, and the cascade climbs)."""

    def answer(request):
        question = last_user_message(request)
        expected = EXPECTED.get(question, "KB-0000")
        if request.get("model") != "gpt-4o" and question in HARD:
            return text("I am not sure about this one.", usage=USAGE)
        return text(f"Thanks for asking. Reference: {expected}.", usage=USAGE)

    server.on(lambda request: True, answer)


def evaluate(page, flow, version: int, count: int) -> None:
    form = page.get_by_test_id("evaluate-form")
    form.locator("select[name=flow]").select_option(str(flow.pk))
    form.locator("select[name=version]").select_option(str(version))
    form.locator("select[name=scorer]").select_option("contains")
    page.get_by_test_id("evaluate-start").click()
    page.wait_for_url(re.compile(r"/evals/evaluations/\d+/$"))
    expect(page.locator("#evaluation-results")).to_have_attribute(
        "data-status", "succeeded", timeout=90_000
    )
    expect(page.get_by_test_id("evaluation-done")).to_have_text(f"{count}/{count}")
    # Finished while the page polled: its Cancel button goes with the run.
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_have_count(0)


def test_a_pm_sets_auto_evaluates_two_versions_compares_and_reads_costs(
    page, workspace, member, llm_server, artifacts, tmp_path
):
    pm = member(Role.OWNER, "pm-auto")
    flow = Flow.objects.create(workspace=workspace, name="Support answers", graph=graph())
    flow_publish(flow=flow, user=pm, note="gpt-4o for everything")
    scripted(llm_server)
    login(page, pm)

    # The PM picks Automatic in the inspector and publishes it.
    page.goto(f"/flows/{flow.pk}/")
    select(page, "answer")
    inspector = page.locator('[data-inspector-node="answer"]')
    picker = inspector.locator(".sb-model-picker select").first
    expect(picker.locator("option", has_text="Automatic")).to_have_count(1)
    picker.select_option("auto")
    expect(inspector.locator("[data-model-auto]")).to_contain_text("cheapest candidate model")
    wait_saved(page)
    flow.refresh_from_db()
    answer = next(n for n in flow.graph["nodes"] if n["id"] == "answer")
    assert answer["config"]["model"] == "auto"
    page.screenshot(path=str(artifacts / "done-when-1-inspector-auto.png"))
    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_label("Note").fill("Automatic routing")
    page.get_by_role("dialog").get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Published v2.")).to_be_visible()

    # A dataset, uploaded.
    page.goto("/evals/")
    page.get_by_test_id("dataset-create").locator("input[name=name]").fill("Support requests")
    page.get_by_role("button", name="Create dataset").click()
    upload = tmp_path / "support.jsonl"
    upload.write_text(
        "\n".join(
            json.dumps({"inputs": {"question": q}, "expected": e}) for q, e in EXPECTED.items()
        )
    )
    page.get_by_test_id("upload-file").set_input_files(str(upload))
    page.get_by_test_id("upload-submit").click()
    page.wait_for_url(re.compile(r"/evals/datasets/\d+/uploads/\d+/$"))  # the upload's report
    expect(page.get_by_test_id("upload-report")).to_contain_text(f"Added {len(EXPECTED)} items")
    dataset_url = re.sub(r"uploads/\d+/$", "", page.url)

    # Evaluate v1 (gpt-4o by hand), then v2 (automatic).
    evaluate(page, flow, 1, len(EXPECTED))
    expect(page.get_by_test_id("evaluation-pass-rate")).to_have_text("100%")
    page.goto(dataset_url)
    evaluate(page, flow, 2, len(EXPECTED))
    expect(page.get_by_test_id("evaluation-pass-rate")).to_have_text("100%")
    page.screenshot(path=str(artifacts / "done-when-2-evaluation.png"), full_page=True)

    # Compare: as often right, for a fraction of the cost.
    page.get_by_test_id("compare-baseline").click()
    expect(page.get_by_test_id("compare-regressions")).to_have_text("0")
    expect(page.get_by_test_id("compare-pass-rate")).to_have_text("100%")
    change = page.get_by_test_id("compare-cost-change").inner_text()
    assert change.startswith("−"), change  # cheaper
    assert float(re.search(r"([\d.]+)%", change).group(1)) >= 50, change
    page.screenshot(path=str(artifacts / "done-when-3-compare.png"), full_page=True)

    # A routed item's run says which model answered and why.
    hard_row = page.get_by_test_id("compare-item").filter(has_text="12 units")
    hard_row.get_by_role("link", name=re.compile(r"run #\d+")).last.click()
    rows = page.locator('[data-step-node="answer"]')
    expect(rows.first).to_contain_text("auto →")
    rows.last.locator(".sb-step-head").click()
    expect(page.locator('[data-decision="routing"]')).to_contain_text("Auto chose")
    page.screenshot(path=str(artifacts / "done-when-4-run.png"), full_page=True)

    # The cost page: where the money went, and what routing saved.
    page.get_by_role("link", name="Costs").click()
    expect(page.get_by_test_id("cost-chart")).to_be_visible()
    by_model = page.get_by_test_id("cost-by-model")
    expect(by_model.locator("tbody tr").first).to_contain_text("openai/gpt-4o")
    expect(by_model).to_contain_text("routed")  # what routing saved, per model
    expect(page.get_by_test_id("cost-savings")).to_be_visible()
    expect(page.get_by_test_id("cost-by-node")).to_contain_text("answer")
    page.screenshot(path=str(artifacts / "done-when-5-costs.png"), full_page=True)

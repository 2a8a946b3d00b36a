"""The run page in a real browser: live over the websocket, through a dropped connection, with
model output as text, and the four states it is looked at in (running, waiting, done, failed).

The helpers here are shared by the test-run and replay tests.
"""

from __future__ import annotations

import json
import re
import statistics
import time

import pytest
from playwright.sync_api import Page, expect

from builder.models import Flow
from runs.executor import InlineExecutor, set_executor
from runs.models import Approval, Run, RunEvent, Step
from runs.services import approval_decide, run_start
from tests.llmserver import http_error, json_reply, text

from .conftest import eventually, login

pytestmark = pytest.mark.e2e

INGREDIENTS = {
    "ingredients": ["lasagne sheets", "tomato", "courgette", "ricotta"],
    "summary": "A layered vegetable bake.",
}
STEPS_TEXT = (
    "1. Heat the oven to 190 C. 2. Layer sheets, tomato sauce, courgette and ricotta three "
    "times. 3. Bake for forty minutes until golden and bubbling."
)


# ---- shared helpers -----------------------------------------------------------------------------


def recipe_flow() -> Flow:
    return Flow.objects.get(workspace__slug="demo", name="Recipe assistant")


@pytest.fixture
def inline_runs(llm_server):
    """Runs started by the test itself execute in this process, synchronously."""
    set_executor(InlineExecutor())
    yield llm_server
    set_executor(None)


def run_here(owner, flow: Flow | None = None, *, approve: bool = False, inputs=None) -> Run:
    """Run a flow to its end (or its approval) in this process; the browser then looks at it."""
    run = run_start(user=owner, flow=flow or recipe_flow(), inputs=inputs)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    if approve and run.status == "waiting":
        approval = Approval.objects.get(run=run, status="pending")
        approval_decide(user=owner, approval_id=approval.pk, decision="approved")
        InlineExecutor().advance(run.pk)
        run.refresh_from_db()
    return run


@pytest.fixture
def slow_stream(monkeypatch):
    """Stream the scripted model's text a word every 60 ms, so "running" text can be watched."""
    from tests import llmserver

    original = llmserver._Handler._write_chunk

    def slow(self, data: str) -> None:
        if '"content": "' in data and '"content": ""' not in data:
            time.sleep(0.06)
        original(self, data)

    monkeypatch.setattr(llmserver._Handler, "_write_chunk", slow)


def state_of(page: Page, node_id: str):
    """The run-state badge of a canvas node (the DOM contract: data-node-id + data-run-state)."""
    return page.locator(f'[data-node-id="{node_id}"][data-run-state]')


def status(page: Page):
    return page.get_by_test_id("run-status")


def step_rows(page: Page):
    return page.locator("[data-step-list] [data-step-row]")


def assert_each_step_once(page: Page, run: Run) -> None:
    """One row per step (node × loop pass × attempt), none missing, none twice."""
    rows = page.locator("[data-step-row]").evaluate_all(
        "rows => rows.map(r => [r.dataset.stepNode, +r.dataset.stepIteration,"
        " +r.dataset.stepAttempt])"
    )
    shown = sorted(tuple(r) for r in rows)
    assert len(shown) == len(set(shown)), f"duplicate step rows: {shown}"
    stored = sorted(Step.objects.filter(run=run).values_list("node_id", "iteration", "attempt"))
    assert shown == stored


def open_run(page: Page, run_id: int) -> None:
    page.goto(f"/runs/{run_id}/")
    expect(page.locator("[data-run-canvas][data-ready]")).to_be_attached()


def latency_report(page: Page, run: Run, label: str) -> dict:
    """Commit → page: when each step state showed on the page against its event's time."""
    shown = page.evaluate("() => window.__sbStateTimes")
    stored = {
        e.seq: e.ts.timestamp() * 1000
        for e in RunEvent.objects.filter(run=run, kind__startswith="step.")
    }
    samples = [s for s in shown if s["seq"] in stored]
    if not samples:
        return {}

    def spread(values: list[float]) -> dict:
        values = sorted(values)
        return {
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(values[min(len(values) - 1, int(len(values) * 0.95))], 1),
            "max_ms": round(values[-1], 1),
        }

    report = {
        "label": label,
        "samples": len(samples),
        # The event's time is taken in the step's transaction, just before its commit.
        **spread([s["shown"] - stored[s["seq"]] for s in samples]),
        "delivery": spread([s["received"] - stored[s["seq"]] for s in samples]),
        "render": spread([s["shown"] - s["received"] for s in samples]),
    }
    print(f"\ncommit → page latency ({label}): {json.dumps(report)}")
    return report


# ---- tests --------------------------------------------------------------------------------------


def test_websocket_drop_mid_run_reconnects_and_shows_every_step_once(
    page, demo, llm_server, slow_stream, artifacts
):
    llm_server.on("ingredients", json_reply(INGREDIENTS, latency=0.6))
    llm_server.on("cooking instructions", text(STEPS_TEXT, latency=0.3))
    owner = demo["owner"]
    login(page, owner)

    sockets = {"routes": [], "refusing": False, "urls": []}

    def route(ws):
        sockets["urls"].append(ws.url)
        if sockets["refusing"]:
            ws.close(code=1011)
            return
        ws.connect_to_server()
        sockets["routes"].append(ws)

    page.route_web_socket(re.compile(r"/ws/runs/\d+/"), route)
    response = page.request.post(
        f"/api/flows/{recipe_flow().pk}/runs",
        data={"use_draft": False},
        headers={"X-CSRFToken": _csrf(page)},
    )
    assert response.status == 202, response.text()
    run = Run.objects.get(pk=response.json()["id"])
    open_run(page, run.pk)
    expect(state_of(page, "research")).to_have_attribute("data-run-state", "running")
    page.screenshot(path=str(artifacts / "run-page-running.png"))

    # The network drops while the research step runs, and stays down for a while: steps go
    # on without the page. Then it comes back.
    sockets["refusing"] = True
    for ws in sockets["routes"]:
        ws.close(code=1011)
    expect(page.locator('[data-live][data-connection="reconnecting"]')).to_be_visible()
    eventually(lambda: Step.objects.filter(run=run, node_id="pantry").exists(), timeout=10)
    time.sleep(0.5)
    sockets["refusing"] = False

    expect(status(page)).to_have_text("waiting", timeout=15_000)
    expect(state_of(page, "approve")).to_have_attribute("data-run-state", "waiting")
    for node in ("research", "pantry", "anything_missing", "shopping", "instructions", "review"):
        expect(state_of(page, node)).to_have_attribute("data-run-state", "succeeded")
    assert_each_step_once(page, run)
    assert page.evaluate("() => window.__sbRunStream.reconnects") >= 1
    # It resumed from the last event it had seen, not from the start.
    resumed = [int(re.search(r"after=(\d+)", url).group(1)) for url in sockets["urls"][1:]]
    assert resumed and min(resumed) > 0
    # The router's route shows on its node.
    expect(page.locator('[data-node-id="anything_missing"][data-route="missing"]')).to_be_visible()

    # Cancelling while it waits ends it at once, the approval with it.
    page.get_by_role("button", name="Cancel run").click()
    expect(status(page)).to_have_text("cancelled")
    expect(page.locator("[data-approval]")).to_have_count(0)
    expect(state_of(page, "approve")).to_have_attribute("data-run-state", "cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()


def _csrf(page: Page) -> str:
    page.goto("/")
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def test_model_output_is_text_never_html_and_failures_read_clearly(
    page, demo, inline_runs, artifacts
):
    # The model is briefly unavailable for the research step: one retry, then an answer.
    research = iter([http_error(503, retry_after=0), json_reply(INGREDIENTS)])
    inline_runs.on("ingredients", lambda request: next(research))
    # The first instructions are too short for the review, which sends them back once.
    replies = iter([text("Bake it."), text("<script>window.__xss=1</script> Then bake it well.")])
    inline_runs.on("cooking instructions", lambda request: next(replies))
    owner = demo["owner"]
    run = run_here(owner)
    assert run.status == "waiting"
    login(page, owner)
    open_run(page, run.pk)
    # The loop shows as a second pass on the canvas and in the timeline; the review says why.
    expect(
        page.locator('.sb-node[data-node-id="instructions"][data-iterations="2"]')
    ).to_be_visible()
    expect(page.locator('[data-step-node="instructions"]')).to_have_count(2)
    page.locator('[data-step-node="review"] .sb-step-head').first.click()
    expect(page.locator('[data-decision="fail"]')).to_contain_text("too short")
    page.screenshot(path=str(artifacts / "run-page-loop.png"))
    research_row = page.locator('[data-step-node="research"]')
    expect(research_row).to_contain_text("1 retry")
    research_row.locator(".sb-step-head").click()
    expect(page.locator(".sb-attempts li")).to_have_count(2)
    expect(page.locator(".sb-attempts li").first).to_contain_text("HTTP 503")
    # Picking the node on the canvas shows its latest step. The click goes to the node itself:
    # opening the step detail above resized the canvas, whose debounced refit (120 ms, then a
    # 150 ms pan) can move the nodes after Playwright judged them still, and a click at the old
    # coordinates then lands on a neighbour (under CI load it picked the research node).
    page.locator('.react-flow__node[data-id="instructions"]').dispatch_event("click")
    expect(page.locator("[data-step-detail] h2")).to_contain_text("Cooking instructions")
    expect(page.locator('[data-step-node="instructions"].is-selected')).to_contain_text("pass 2")
    output = page.locator("[data-step-output]")
    expect(output).to_have_text("<script>window.__xss=1</script> Then bake it well.")
    expect(page.get_by_text("<script>window.__xss=1</script>", exact=False).first).to_be_visible()
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("[data-step-detail] script").count() == 0

    # A run that failed: the run and the step say why.
    inline_runs.reset()
    inline_runs.on("ingredients", http_error(400, message="The model refused this request"))
    failed = run_here(owner)
    assert failed.status == "failed"
    open_run(page, failed.pk)
    expect(status(page)).to_have_text("failed")
    expect(state_of(page, "research")).to_have_attribute("data-run-state", "failed")
    expect(state_of(page, "pantry")).to_have_count(0)
    page.locator('[data-step-node="research"] .sb-step-head').click()
    expect(page.locator("[data-step-error]")).to_contain_text("The model refused this request")
    page.screenshot(path=str(artifacts / "run-page-failed.png"))


def test_rerun_from_a_step_on_the_draft_reuses_the_steps_before_it(
    page, demo, inline_runs, artifacts, api_for
):
    owner = demo["owner"]
    inline_runs.on("ingredients", json_reply(INGREDIENTS))
    original = run_here(owner, approve=True)
    assert original.status == "succeeded"
    flow = recipe_flow()
    graph = flow.graph
    for node in graph["nodes"]:
        if node["id"] == "instructions":
            node["config"]["prompt"] = "NEW: numbered steps for {{ inputs.dish }}, please."
    saved = api_for(owner).put(
        f"/api/flows/{flow.pk}/draft", {"graph": graph, "revision": flow.revision}
    )
    assert saved.status_code == 200, saved.content
    calls_before = inline_runs.call_count

    login(page, owner)
    open_run(page, original.pk)
    # "Re-run…" offers the same version or the draft, and an inputs form from the schema.
    page.get_by_role("button", name="Re-run…").click()
    dialog = page.locator('[data-dialog="rerun"]')
    dialog.get_by_label("Edit the inputs").check()
    expect(dialog.get_by_role("spinbutton", name="Servings")).to_have_value("4")
    page.screenshot(path=str(artifacts / "run-page-rerun-dialog.png"))
    dialog.get_by_role("button", name="Cancel").click()

    page.locator('[data-step-node="instructions"] .sb-step-head').click()
    page.get_by_role("button", name="Re-run from this step…").click()
    expect(dialog).to_contain_text("Re-run from “Cooking instructions”")
    dialog.get_by_label("The current draft").check()
    dialog.get_by_role("button", name="Re-run from this step").click()
    page.wait_for_url(lambda url: re.search(r"/runs/\d+/$", url) and f"/{original.pk}/" not in url)
    rerun_id = int(page.url.rstrip("/").split("/")[-1])
    assert rerun_id != original.pk

    expect(status(page)).to_have_text("waiting", timeout=15_000)
    for node in ("research", "pantry", "anything_missing", "shopping"):
        expect(state_of(page, node)).to_have_attribute("data-run-state", "reused")
    expect(state_of(page, "instructions")).to_have_attribute("data-run-state", "succeeded")
    expect(page.locator('[data-step-node="research"]')).to_contain_text("Reused")
    compare = page.get_by_role("link", name="Compare with the original")
    expect(compare).to_have_attribute("href", f"/runs/{original.pk}/compare/{rerun_id}/")
    # Only the changed step reached the model; the ones before it were not paid for again.
    new_calls = inline_runs.requests[calls_before:]
    assert len(new_calls) == 1
    assert new_calls[0]["messages"][-1]["content"].startswith("NEW:")
    rerun = Run.objects.get(pk=rerun_id)
    assert rerun.parent_run_id == original.pk and rerun.from_node == "instructions"
    page.locator('[data-step-node="research"] .sb-step-head').click()
    expect(page.locator(".sb-reused-note")).to_be_visible()
    page.screenshot(path=str(artifacts / "run-page-rerun-reused.png"))

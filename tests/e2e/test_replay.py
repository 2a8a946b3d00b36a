"""Replaying a finished run: the stored event log plays back onto the canvas and the timeline,
in order, at 1×, 4× or at once, and scrubbing moves the states; no model is called."""

import itertools

import pytest
from playwright.sync_api import expect

from runs.models import RunEvent, Step
from tests.llmserver import json_reply

from .conftest import login
from .test_run_page import INGREDIENTS, inline_runs, open_run, run_here, state_of  # noqa: F401

pytestmark = pytest.mark.e2e

ORDER = ["request", "research", "pantry", "anything_missing", "shopping", "instructions"]
ORDER += ["review", "approve", "publish"]

WATCH_STATES = """() => {
    window.__replayFrames = [];
    const snapshot = () => {
        const states = {};
        const badges = "[data-run-canvas] [data-node-id][data-run-state]";
        for (const el of document.querySelectorAll(badges)) {
            states[el.dataset.nodeId] = el.dataset.runState;
        }
        const key = JSON.stringify(states);
        const last = window.__replayFrames[window.__replayFrames.length - 1];
        if (!last || last.key !== key) window.__replayFrames.push({ key, states });
    };
    new MutationObserver(snapshot).observe(document.querySelector("[data-run-canvas]"), {
        subtree: true, childList: true, attributes: true, attributeFilter: ["data-run-state"],
    });
}"""


@pytest.mark.usefixtures("inline_runs")
def test_replay_plays_the_event_log_back_in_order_without_calling_the_model(
    page, demo, llm_server, artifacts
):
    llm_server.on("ingredients", json_reply(INGREDIENTS))
    owner = demo["owner"]
    run = run_here(owner, approve=True)
    assert run.status == "succeeded"
    total = RunEvent.objects.filter(run=run).count()
    calls = llm_server.call_count
    login(page, owner)
    open_run(page, run.pk)
    for node in ORDER:
        expect(state_of(page, node)).to_have_attribute("data-run-state", "succeeded")
    requests = []
    page.on("request", lambda r: requests.append(r.url))

    page.evaluate(WATCH_STATES)
    page.get_by_role("button", name="Replay", exact=True).click()
    bar = page.locator("[data-replay]")
    scrubber = page.get_by_label("Replay position")
    expect(scrubber).to_have_attribute("max", str(total))
    page.get_by_role("radio", name="4×").click()
    expect(bar).to_have_attribute("data-position", str(total), timeout=20_000)
    expect(bar).to_have_attribute("data-playing", "false")

    # Node states moved in the order the run went: each node started after the one before it
    # had succeeded, and nothing was shown before its turn.
    frames = [f["states"] for f in page.evaluate("() => window.__replayFrames")]
    assert frames[0] == {} or all(v in ("queued", "running") for v in frames[0].values())

    def first(node, state):
        return next(i for i, f in enumerate(frames) if f.get(node) == state)

    for before, after in itertools.pairwise(ORDER):
        assert first(before, "succeeded") <= first(after, "succeeded"), (before, after)
        assert first(before, "succeeded") <= min(i for i, f in enumerate(frames) if after in f), (
            before,
            after,
        )
    assert any(f.get("approve") == "waiting" for f in frames)
    for node in ORDER:
        expect(state_of(page, node)).to_have_attribute("data-run-state", "succeeded")

    # Scrubbing: back to the start, then to where the instructions were running.
    scrubber.fill("0")
    expect(state_of(page, "request")).to_have_count(0)
    started = RunEvent.objects.get(run=run, kind="step.started", node_id="instructions").seq
    scrubber.fill(str(started))
    expect(state_of(page, "instructions")).to_have_attribute("data-run-state", "running")
    expect(state_of(page, "research")).to_have_attribute("data-run-state", "succeeded")
    expect(state_of(page, "review")).to_have_count(0)
    expect(page.locator('[data-step-row][data-step-node="instructions"]')).to_have_attribute(
        "data-step-state", "running"
    )
    expect(page.locator("[data-step-row]")).to_have_count(
        Step.objects.filter(run=run, created_at__lte=_ts(run, started)).count()
    )
    page.screenshot(path=str(artifacts / "run-page-replay.png"))

    page.get_by_role("radio", name="Instant").click()
    page.get_by_role("button", name="Play", exact=True).click()
    expect(bar).to_have_attribute("data-position", str(total))
    expect(state_of(page, "publish")).to_have_attribute("data-run-state", "succeeded")
    page.get_by_role("button", name="Exit replay").click()
    expect(page.locator("[data-replay-controls]")).to_be_hidden()

    assert llm_server.call_count == calls
    api_calls = {u.split("?")[0] for u in requests if "/api/" in u}
    assert api_calls == {f"{page.url.split('/runs/')[0]}/api/runs/{run.pk}/events"}


def _ts(run, seq):
    return RunEvent.objects.get(run=run, seq=seq).ts

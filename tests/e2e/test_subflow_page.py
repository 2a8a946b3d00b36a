"""A sub-flow in the browser: the caller's run page links to the child run, and back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from builder.services import flow_publish
from runs.models import Run
from tests.llmserver import text
from tests.runs.test_subflows import calling_graph, prompt_graph

from .conftest import login
from .test_run_page import inline_runs, run_here  # noqa: F401

pytestmark = pytest.mark.e2e


def test_run_pages_link_the_sub_flow_run_both_ways(page, demo, inline_runs, artifacts):  # noqa: F811
    owner = demo["owner"]
    inline_runs.script(text("Oolong is a partly oxidised tea."))
    child_flow = Flow.objects.create(
        workspace=demo["workspace"], name="Explain a topic", graph=prompt_graph()
    )
    flow_publish(flow=child_flow, user=owner)
    parent_flow = Flow.objects.create(
        workspace=demo["workspace"], name="Tea guide", graph=calling_graph(child_flow.pk)
    )
    flow_publish(flow=parent_flow, user=owner)
    run_here(owner, Flow.objects.select_related("workspace").get(pk=parent_flow.pk),
             inputs={"topic": "oolong"})  # fmt: skip
    parent = Run.objects.get(flow=parent_flow)
    child = Run.objects.get(parent_step__run=parent)
    assert parent.status == "succeeded"

    login(page, owner)
    page.goto(f"/runs/{parent.pk}/")
    links = page.get_by_test_id("child-runs")
    expect(links).to_contain_text(f"run #{child.pk}")
    expect(links).to_contain_text("Explain a topic, succeeded")
    page.screenshot(path=str(artifacts / "subflow-parent-run.png"), full_page=True)

    links.get_by_role("link", name=f"run #{child.pk}").click()
    page.wait_for_url(f"**/runs/{child.pk}/")
    expect(page.get_by_text("as a sub-flow")).to_be_visible()
    page.screenshot(path=str(artifacts / "subflow-child-run.png"), full_page=True)
    page.get_by_test_id("caller-run").click()
    page.wait_for_url(f"**/runs/{parent.pk}/")

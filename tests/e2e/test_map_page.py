"""A map in the browser: the parent's run page lists every item run in order, with its status
and a link to it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from builder.models import Flow
from builder.services import flow_publish
from runs.models import Run
from tests.runs.test_maps import ITEMS, item_graph, map_graph

from .conftest import login
from .test_run_page import inline_runs, run_here  # noqa: F401

pytestmark = pytest.mark.e2e


def test_run_page_lists_the_map_item_runs(page, demo, inline_runs, artifacts):  # noqa: F811
    owner = demo["owner"]
    pricing = Flow.objects.create(workspace=demo["workspace"], name="Price one", graph=item_graph())
    flow_publish(flow=pricing, user=owner)
    shop = Flow.objects.create(
        workspace=demo["workspace"], name="Price the list", graph=map_graph(pricing.pk)
    )
    flow_publish(flow=shop, user=owner)
    run_here(owner, Flow.objects.select_related("workspace").get(pk=shop.pk),
             inputs={"things": ITEMS})  # fmt: skip
    parent = Run.objects.get(flow=shop)
    assert parent.status == "succeeded"
    kids = {k.inputs["ingredient"]: k for k in Run.objects.filter(parent_step__run=parent)}

    login(page, owner)
    page.goto(f"/runs/{parent.pk}/")
    panel = page.get_by_test_id("map-items")
    expect(panel).to_contain_text("5 of 5 done")
    rows = panel.locator("li")
    expect(rows).to_have_count(5)
    for number, item in enumerate(ITEMS, start=1):
        expect(rows.nth(number - 1)).to_contain_text(f"Item {number}")
        expect(rows.nth(number - 1)).to_contain_text(f"ingredient: {item}")
        expect(rows.nth(number - 1)).to_contain_text("succeeded")
    page.screenshot(path=str(artifacts / "map-parent-run.png"), full_page=True)
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(artifacts / "map-item-runs.png"))

    rows.nth(2).get_by_role("link").click()
    page.wait_for_url(f"**/runs/{kids['sugar'].pk}/")
    expect(page.get_by_text("as a sub-flow")).to_be_visible()

"""The run history page: scoping, filters (and bad ones), pagination, the per-day chart."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from builder.models import Flow, FlowVersion
from runs.models import Run
from tests.builder.graphs import base_graph
from workspaces.models import Membership, Role

from .support import fast_passwords  # noqa: F401


@pytest.fixture
def flows(workspace, other_workspace):
    def make(name, ws):
        flow = Flow.objects.create(workspace=ws, name=name, graph=base_graph())
        FlowVersion.objects.create(flow=flow, number=1, graph=base_graph(), published=True)
        return flow

    return {
        "support": make("Support triage", workspace),
        "blog": make("Blog writer", workspace),
        "theirs": make("Their secret flow", other_workspace),
    }


@pytest.fixture
def dana(member):
    return member(Role.EDITOR, username="dana")


@pytest.fixture
def sam(member):
    return member(Role.EDITOR, username="sam")


def add_run(flow, user=None, *, status="succeeded", days_ago=0, cost="0.0125", seconds=3.5):
    created = timezone.now() - timedelta(days=days_ago, minutes=5)
    return Run.objects.create(
        flow=flow,
        version=flow.versions.get(number=1),
        workspace=flow.workspace,
        status=status,
        created_by=user,
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(seconds=seconds) if status != "running" else None,
        cost=Decimal(cost),
        tokens_in=100,
        tokens_out=40,
    )


def rows(response) -> list[str]:
    """The run ids listed, in order."""
    import re

    return re.findall(r'<tr data-run-id="(\d+)"', response.content.decode())


def test_history_requires_login(client, db):
    response = client.get("/runs/?flow=1")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_history_empty_state(client, dana):
    client.force_login(dana)
    content = client.get("/runs/").content.decode()
    assert "No runs yet" in content and 'data-testid="history-chart"' not in content


def test_history_lists_my_workspaces_runs_with_status_duration_and_cost(
    client, dana, flows, make_user
):
    mine = add_run(flows["support"], dana, status="failed", cost="0.0125", seconds=75)
    stranger = make_user("stranger")
    theirs = add_run(flows["theirs"], stranger)
    client.force_login(dana)
    response = client.get("/runs/")
    assert response.status_code == 200
    assert rows(response) == [str(mine.pk)]
    content = response.content.decode()
    assert "Their secret flow" not in content
    assert "sb-state-failed" in content and "$0.0125" in content
    assert "1 min 15 s" in content and "140" in content  # duration, tokens
    assert str(theirs.pk) not in rows(response)


def test_history_filters_by_flow_status_person_and_date(client, dana, sam, flows):
    a = add_run(flows["support"], dana, status="succeeded", days_ago=0)
    b = add_run(flows["support"], sam, status="failed", days_ago=1)
    c = add_run(flows["blog"], dana, status="succeeded", days_ago=3)
    d = add_run(flows["blog"], sam, status="cancelled", days_ago=10)
    client.force_login(dana)
    flow_id = flows["support"].pk
    assert rows(client.get(f"/runs/?flow={flow_id}")) == [str(a.pk), str(b.pk)]
    assert rows(client.get("/runs/?status=succeeded")) == [str(a.pk), str(c.pk)]
    assert rows(client.get("/runs/?person=me")) == [str(a.pk), str(c.pk)]
    assert rows(client.get("/runs/?person=sam")) == [str(b.pk), str(d.pk)]
    today = timezone.localdate()
    since = (today - timedelta(days=4)).isoformat()
    until = (today - timedelta(days=1)).isoformat()
    assert rows(client.get(f"/runs/?since={since}&until={until}")) == [str(b.pk), str(c.pk)]
    both = client.get(f"/runs/?flow={flow_id}&status=failed&person=sam")
    assert rows(both) == [str(b.pk)]
    per_flow = client.get(f"/runs/?flow={flow_id}").content.decode()
    assert "Runs of Support triage" in per_flow and f'href="/flows/{flow_id}/"' in per_flow


def test_history_flow_of_another_workspace_is_404(client, dana, flows):
    add_run(flows["theirs"])
    client.force_login(dana)
    assert client.get(f"/runs/?flow={flows['theirs'].pk}").status_code == 404
    assert client.get("/runs/?flow=987654321").status_code == 404


@pytest.mark.parametrize(
    "query, notice",
    [
        ("flow=abc", "the flow in the address is not valid"),
        ("flow=99999999999999999999999999", "the flow in the address is not valid"),
        ("flow=-4", "the flow in the address is not valid"),
        ("status=exploded", "is not a run status"),
        ("since=2024-13-45", "Ignored the “From” date"),
        ("until=yesterday", "Ignored the “To” date"),
        ("since=2025-03-10&until=2025-03-01", "after the “To” date"),
    ],
)
def test_history_bad_filters_are_explained_not_500(client, dana, flows, query, notice):
    add_run(flows["support"], dana)
    client.force_login(dana)
    response = client.get(f"/runs/?{query}")
    assert response.status_code == 200
    assert notice in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=99999999999999999999999999999",
        "page=1e9",
        "since=0001-01-01&until=9999-12-31",
        "until=0001-01-03",
        "since=9999-12-31",
        "person=" + "x" * 5000,
        "status=%00",
        "flow=%F0%9F%98%80",
        "since=%00&until=%ff",
    ],
)
def test_history_odd_query_strings_never_500(client, dana, flows, query):
    add_run(flows["support"], dana)
    client.force_login(dana)
    assert client.get(f"/runs/?{query}").status_code == 200


def test_history_paginates_and_clamps_huge_pages(client, dana, flows):
    runs = [add_run(flows["support"], dana) for _ in range(30)]
    newest_first = [str(r.pk) for r in sorted(runs, key=lambda r: (r.created_at, r.pk))][::-1]
    client.force_login(dana)
    first = client.get("/runs/")
    assert rows(first) == newest_first[:25]
    content = first.content.decode()
    assert "1–25 of 30 runs" in content and "page=2" in content
    assert rows(client.get("/runs/?page=2")) == newest_first[25:]
    assert rows(client.get("/runs/?page=500")) == newest_first[25:]
    filtered = client.get(f"/runs/?flow={flows['support'].pk}").content.decode()
    assert f"flow={flows['support'].pk}&amp;page=2" in filtered  # filters survive paging


def test_history_chart_draws_runs_and_cost_per_day_per_flow(client, dana, flows):
    add_run(flows["support"], dana, days_ago=0, cost="0.02")
    add_run(flows["support"], dana, days_ago=0, cost="0.01")
    add_run(flows["blog"], dana, days_ago=2, cost="0.5")
    add_run(flows["blog"], dana, days_ago=40)  # outside the default two weeks
    client.force_login(dana)
    content = client.get("/runs/").content.decode()
    assert 'data-testid="history-chart"' in content
    assert content.count('class="sb-chart-bar') == 4  # 2 days × (runs, cost)
    assert "Support triage: 2 runs" in content and "Blog writer: 1 run<" in content
    assert "Support triage: $0.03" in content and "Blog writer: $0.50" in content
    assert "Runs per day" in content and "Cost per day" in content
    wide = client.get(
        f"/runs/?since={(timezone.localdate() - timedelta(days=60)).isoformat()}"
    ).content.decode()
    assert wide.count('class="sb-chart-bar') == 6


def test_history_shows_reruns_with_a_compare_link(client, dana, flows):
    original = add_run(flows["support"], dana)
    rerun = add_run(flows["support"], dana)
    rerun.parent_run = original
    rerun.from_node = "answer"
    rerun.save()
    client.force_login(dana)
    content = client.get("/runs/").content.decode()
    assert f'href="/runs/{original.pk}/compare/{rerun.pk}/"' in content
    assert "re-runs from <code>answer</code>" in content


def test_history_with_several_workspaces_groups_flows(client, dana, flows, other_workspace):
    Membership.objects.create(workspace=other_workspace, user=dana, role=Role.VIEWER)
    add_run(flows["theirs"])
    client.force_login(dana)
    content = client.get("/runs/").content.decode()
    assert '<optgroup label="Other">' in content and "Their secret flow" in content

"""What a run start over the API costs the database: a query-count test, so that statements
cannot creep back into the path every integrator's request takes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from builder.models import Flow
from builder.services import flow_publish
from runs.executor import Executor, set_executor
from runs.models import Run, RunEvent
from tests.burst import BURST_GRAPH
from workspaces.models import Role

pytestmark = pytest.mark.django_db


class KicksKept(Executor):
    """Keeps the kicks instead of running them: only the start itself is counted."""

    def __init__(self) -> None:
        self.kicked: list[int] = []

    def advance(self, run_id: int, *, redispatch: bool = False) -> None:
        self.kicked.append(run_id)


@pytest.fixture
def kicks():
    executor = KicksKept()
    set_executor(executor)
    yield executor
    set_executor(None)


def statements(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


def test_a_run_start_costs_five_statements(
    member, workspace, api_for, kicks, django_capture_on_commit_callbacks
):
    user = member(Role.EDITOR)
    flow = Flow.objects.create(workspace=workspace, name="Double", graph=BURST_GRAPH)
    flow_publish(flow=flow, user=user)
    api = api_for(user, token=True)
    url = f"/api/flows/{flow.pk}/runs"
    assert api.post(url, {"inputs": {"n": 1}}).status_code == 202  # the token's use recorded
    with (
        django_capture_on_commit_callbacks(execute=True),
        CaptureQueriesContext(connection) as queries,
    ):
        response = api.post(url, {"inputs": {"n": 2}})
    assert response.status_code == 202, response.content
    sql = statements(queries.captured_queries)
    # The token (with its user); the flow with its workspace and the caller's role; the
    # published version; the run (with its last seq) and its run.queued event.
    assert len(sql) == 5, "\n".join(s[:160] for s in sql)
    assert not any('FROM "workspaces_membership"' in s for s in sql)
    run = Run.objects.get(pk=response.json()["id"])
    assert run.inputs == {"n": 2} and run.version.published
    assert list(RunEvent.objects.filter(run=run).values_list("seq", "kind")) == [(1, "run.queued")]
    assert run.last_seq == 1
    assert kicks.kicked[-1] == run.pk


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (Role.APPROVER, 403),
                                              (Role.EDITOR, 202), (Role.OWNER, 202)])  # fmt: skip
def test_the_role_read_with_the_flow_decides_who_may_start_it(
    member, workspace, api_for, kicks, role, status
):
    owner = member(Role.OWNER, username="olga")
    flow = Flow.objects.create(workspace=workspace, name="Double", graph=BURST_GRAPH)
    flow_publish(flow=flow, user=owner)
    caller = owner if role == Role.OWNER else member(role)
    response = api_for(caller, token=True).post(f"/api/flows/{flow.pk}/runs", {"inputs": {"n": 1}})
    assert response.status_code == status, response.content
    if status == 403:
        assert response.json()["code"] == "forbidden"
        assert not Run.objects.filter(flow=flow).exists()


def test_a_flow_of_another_workspace_is_not_found(
    member, other_workspace, api_for, kicks, make_user
):
    stranger = make_user("stan")
    flow = Flow.objects.create(workspace=other_workspace, name="Theirs", graph=BURST_GRAPH)
    response = api_for(member(Role.OWNER), token=True).post(
        f"/api/flows/{flow.pk}/runs", {"use_draft": True, "inputs": {}}
    )
    assert response.status_code == 404
    assert api_for(stranger, token=True).post(f"/api/flows/{flow.pk}/runs", {}).status_code == 404

"""Approvals over the API: the inbox, what the approver sees, deciding (permission-checked,
idempotent, audited, safe under concurrency), quorum, edits, and timeouts from the sweeper."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from builder.graph import validate_graph
from builder.models import Flow, FlowVersion
from runs import dispatch
from runs.models import Approval, ApprovalDecision, Run, RunEvent, Step
from runs.services import run_start
from runs.services.recovery import sweep
from tests.conftest import require_or_skip
from workspaces.models import Role, Workspace

from .support import (  # noqa: F401
    embedded,
    fast_passwords,
    flow_named,
    inline,
    join,
    memory_layer,
    wait_status,
)


def approval_graph(**config) -> dict:
    def node(node_id, type_, **cfg):
        return {
            "id": node_id,
            "type": type_,
            "label": node_id.title(),
            "position": {"x": 0, "y": 0},
            "config": cfg,
        }

    def edge(source, target, port="out"):
        return {
            "id": f"{source}-{port}-{target}",
            "source": source,
            "source_port": port,
            "target": target,
            "target_port": "in",
        }

    graph = {
        "schema_version": 1,
        "nodes": [
            node(
                "ask",
                "input",
                schema={"type": "object", "properties": {"amount": {"type": "number"}}},
                sample={"amount": 120},
            ),
            node("sign_off", "approval", instructions="Pay {{ inputs.amount }}?", **config),
            node("paid", "output", name="paid"),
            node("refused", "output", name="refused"),
            node("expired", "output", name="expired"),
        ],
        "edges": [
            edge("ask", "sign_off"),
            edge("sign_off", "paid", "approved"),
            edge("sign_off", "refused", "rejected"),
            edge("sign_off", "expired", "timed_out"),
        ],
    }
    assert validate_graph(graph) == []
    return graph


@pytest.fixture
def sign_off_flow(workspace):
    def make(**config) -> Flow:
        graph = approval_graph(**config)
        flow = Flow.objects.create(workspace=workspace, name="Sign-off", graph=graph)
        FlowVersion.objects.create(flow=flow, number=1, graph=graph, published=True)
        return flow

    return make


@pytest.fixture
def people(member):
    return {
        "owner": member(Role.OWNER, "olga"),
        "alice": member(Role.APPROVER, "alice"),
        "bob": member(Role.EDITOR, "bob"),
        "vic": member(Role.VIEWER, "vic"),
        "ed": member(Role.EDITOR, "ed"),
    }


@pytest.fixture
def waiting_run(people, sign_off_flow, django_capture_on_commit_callbacks, inline):
    """Start a sign-off run and return it once it waits for its approval."""

    def make(**config) -> Run:
        flow = sign_off_flow(**config)
        with django_capture_on_commit_callbacks(execute=True):
            run = run_start(user=people["owner"], flow=flow, inputs={"amount": 120})
            dispatch.kick(run.pk)
        run.refresh_from_db()
        assert run.status == "waiting"
        return run

    return make


@pytest.fixture
def decide(api_for, django_capture_on_commit_callbacks):
    def call(user, approval, decision="approved", **body):
        with django_capture_on_commit_callbacks(execute=True):
            return api_for(user, token=True).post(
                f"/api/approvals/{approval.pk}/decision", {"decision": decision, **body}
            )

    return call


def test_inbox_lists_my_pending_and_decided_approvals(waiting_run, people, api_for, decide):
    first = waiting_run(users=["alice", "bob"])
    second = waiting_run(users=["bob"])
    alice, bob = api_for(people["alice"], token=True), api_for(people["bob"], token=True)
    assert [a["run"] for a in alice.get("/api/approvals").json()["items"]] == [first.pk]
    pending = bob.get("/api/approvals").json()
    assert [a["run"] for a in pending["items"]] == [second.pk, first.pk]
    assert all(a["can_decide"] for a in pending["items"])
    assert bob.get("/api/approvals?status=decided").json()["count"] == 0

    decide(people["bob"], Approval.objects.get(run=second))
    assert bob.get("/api/approvals").json()["count"] == 1
    decided = bob.get("/api/approvals?status=decided").json()["items"]
    assert [(a["run"], a["status"], a["can_decide"]) for a in decided] == [
        (second.pk, "approved", False)
    ]
    assert bob.get("/api/approvals?status=all&limit=1").json()["count"] == 2
    # Not assigned: not in the inbox, even for the workspace owner.
    assert api_for(people["owner"]).get("/api/approvals").json()["count"] == 0


def test_approval_shows_what_the_approver_must_see(waiting_run, people, api_for, make_user):
    run = waiting_run(users=["alice"], show=["inputs.amount"], allow_edit=True)
    approval = Approval.objects.get(run=run)
    body = api_for(people["alice"], token=True).get(f"/api/approvals/{approval.pk}").json()
    assert body["instructions"] == "Pay 120?"
    assert body["payload"] == {"inputs.amount": 120}
    assert body["allow_edit"] is True
    assert body["assignees"] == ["alice"]
    assert (body["status"], body["run_status"], body["can_decide"]) == ("pending", "waiting", True)
    assert body["flow_name"] == "Sign-off" and body["my_decision"] is None
    # A member who is not assigned may look, not decide; a stranger gets a 404.
    bob_view = api_for(people["bob"]).get(f"/api/approvals/{approval.pk}").json()
    assert bob_view["can_decide"] is False
    stranger = make_user("stranger")
    join(stranger, Workspace.objects.create(name="Elsewhere", slug="elsewhere"))
    assert api_for(stranger).get(f"/api/approvals/{approval.pk}").status_code == 404


def test_approve_resumes_the_run_on_the_approved_branch(waiting_run, people, decide):
    run = waiting_run(users=["alice"])
    approval = Approval.objects.get(run=run)
    response = decide(people["alice"], approval, comment="Looks right")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changed"] is True and body["status"] == "approved"
    assert body["decisions"][0]["user"] == "alice"
    assert body["decisions"][0]["comment"] == "Looks right"
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert set(run.result) == {"paid"}
    decided = RunEvent.objects.get(run=run, kind="approval.decided")
    assert decided.data["by"] == "alice" and decided.data["comment"] == "Looks right"
    assert decided.data["final"] is True


def test_reject_takes_the_rejected_branch(waiting_run, people, decide):
    run = waiting_run(users=["alice"])
    response = decide(people["alice"], Approval.objects.get(run=run), "rejected", comment="No")
    assert response.json()["status"] == "rejected"
    run.refresh_from_db()
    assert run.status == "succeeded" and set(run.result) == {"refused"}


def test_edited_payload_flows_downstream_where_allowed(waiting_run, people, decide):
    run = waiting_run(users=["alice"], show=["inputs.amount"], allow_edit=True)
    approval = Approval.objects.get(run=run)
    response = decide(people["alice"], approval, payload={"inputs.amount": 99})
    assert response.status_code == 200
    assert response.json()["decisions"][0]["edited"] is True
    run.refresh_from_db()
    assert run.result == {"paid": {"inputs.amount": 99}}
    assert Step.objects.get(run=run, node_id="sign_off").output == {"inputs.amount": 99}
    edited = ApprovalDecision.objects.get(approval=approval).edited_payload
    assert edited == {"inputs.amount": 99}


def test_edits_are_refused_where_not_allowed(waiting_run, people, decide):
    run = waiting_run(users=["alice"])
    approval = Approval.objects.get(run=run)
    response = decide(people["alice"], approval, payload={"amount": 1})
    assert response.status_code == 422
    assert response.json()["code"] == "edit_not_allowed"
    assert decide(people["alice"], approval, payload=[1]).status_code == 422
    assert decide(people["alice"], approval, surprise=True).status_code == 422
    assert decide(people["alice"], approval, "maybe").status_code == 422
    assert decide(people["alice"], approval, comment="x" * 5001).status_code == 422
    assert Approval.objects.get(pk=approval.pk).status == "pending"


def test_only_assignees_may_decide(waiting_run, people, decide, make_user):
    run = waiting_run(users=["alice", "vic"])
    approval = Approval.objects.get(run=run)
    # A member not assigned: 403. A viewer cannot be assigned (not a deciding role).
    for user in (people["bob"], people["owner"], people["vic"]):
        response = decide(user, approval)
        assert response.status_code in (403, 404), user
        assert response.json()["code"] in ("forbidden", "not_found")
    assert decide(people["bob"], approval).status_code == 403
    stranger = make_user("stranger")
    join(stranger, Workspace.objects.create(name="Elsewhere", slug="elsewhere"))
    assert decide(stranger, approval).status_code == 404
    assert decide(people["alice"], Approval(pk=approval.pk + 1000)).status_code == 404
    assert not ApprovalDecision.objects.exists()
    assert Run.objects.get(pk=run.pk).status == "waiting"


def test_group_assignees_may_decide(waiting_run, people, decide):
    chefs = Group.objects.create(name="chefs")
    people["ed"].groups.add(chefs)
    run = waiting_run(groups=["chefs"])
    approval = Approval.objects.get(run=run)
    assert decide(people["bob"], approval).status_code == 403
    assert decide(people["ed"], approval).status_code == 200
    assert Run.objects.get(pk=run.pk).status == "succeeded"


def test_repeating_a_decision_is_a_no_op_and_contradicting_it_conflicts(
    waiting_run, people, decide
):
    run = waiting_run(users=["alice", "bob"])
    approval = Approval.objects.get(run=run)
    assert decide(people["alice"], approval).json()["changed"] is True
    events = RunEvent.objects.filter(run=run).count()
    again = decide(people["alice"], approval)
    assert again.status_code == 200 and again.json()["changed"] is False
    # Another assignee agreeing after the quorum was reached changes nothing either.
    agree = decide(people["bob"], approval)
    assert agree.status_code == 200 and agree.json()["changed"] is False
    for user in (people["alice"], people["bob"]):
        conflict = decide(user, approval, "rejected")
        assert conflict.status_code == 409
        assert conflict.json()["code"] == "already_decided"
    assert RunEvent.objects.filter(run=run).count() == events
    assert ApprovalDecision.objects.filter(approval=approval).count() == 1


def test_quorum_waits_for_enough_approvals(waiting_run, people, decide):
    run = waiting_run(users=["alice", "bob", "ed"], quorum=2)
    approval = Approval.objects.get(run=run)
    first = decide(people["alice"], approval).json()
    assert (first["status"], first["approvals"]) == ("pending", 1)
    assert Run.objects.get(pk=run.pk).status == "waiting"
    partial = RunEvent.objects.get(run=run, kind="approval.decided")
    assert partial.data["final"] is False and partial.data["approvals"] == 1
    second = decide(people["bob"], approval).json()
    assert (second["status"], second["approvals"]) == ("approved", 2)
    assert Run.objects.get(pk=run.pk).status == "succeeded"
    assert decide(people["ed"], approval, "rejected").status_code == 409


def test_deciding_on_a_cancelled_run_conflicts(waiting_run, people, decide, api_for):
    run = waiting_run(users=["alice"])
    api_for(people["owner"], token=True).post(f"/api/runs/{run.pk}/cancel")
    response = decide(people["alice"], Approval.objects.get(run=run))
    assert response.status_code == 409
    assert Run.objects.get(pk=run.pk).status == "cancelled"


def test_timeout_fires_from_the_sweeper_on_the_timed_out_branch(
    waiting_run, django_capture_on_commit_callbacks
):
    from runs.executor import executor

    run = waiting_run(users=["alice"], timeout_seconds=3600)
    approval = Approval.objects.get(run=run)
    assert approval.due_at > timezone.now() + timedelta(minutes=59)
    assert sweep() == set()
    with django_capture_on_commit_callbacks(execute=True):
        kicked = sweep(now=timezone.now() + timedelta(hours=1, seconds=1))
    assert kicked == {run.pk}
    approval.refresh_from_db()
    assert approval.status == "timed_out"
    executor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and set(run.result) == {"expired"}
    decided = RunEvent.objects.get(run=run, kind="approval.decided")
    assert decided.data["by"] == "timeout" and decided.data["decision"] == "timed_out"


def test_timeout_can_approve_instead(waiting_run, django_capture_on_commit_callbacks):
    from runs.executor import executor

    run = waiting_run(users=["alice"], timeout_seconds=60, timeout_action="approved")
    Approval.objects.filter(run=run).update(due_at=timezone.now() - timedelta(seconds=1))
    assert sweep() == {run.pk}
    executor().advance(run.pk)
    assert Run.objects.get(pk=run.pk).result == {"paid": {"value": {"amount": 120}}}


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_resume_the_run_exactly_once(
    people, sign_off_flow, embedded, api_for
):
    require_or_skip(
        connection.vendor == "postgresql", "row locks under concurrency need PostgreSQL"
    )
    run = run_start(
        user=people["owner"], flow=sign_off_flow(users=["alice", "bob"]), inputs={"amount": 5}
    )
    dispatch.kick(run.pk)
    wait_status(run.pk, "waiting")
    approval = Approval.objects.get(run=run)
    clients = [api_for(people["alice"], token=True), api_for(people["bob"], token=True)]
    barrier = threading.Barrier(2)
    responses = []

    def approve(client):
        barrier.wait()
        responses.append(
            client.post(f"/api/approvals/{approval.pk}/decision", {"decision": "approved"})
        )
        connection.close()

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses) == [200, 200]
    assert sorted(r.json()["changed"] for r in responses) == [False, True]
    wait_status(run.pk, "succeeded")
    embedded.wait_idle()
    kinds = list(RunEvent.objects.filter(run=run).values_list("kind", "data"))
    assert [k for k, _ in kinds].count("approval.decided") == 1
    assert [d for k, d in kinds if k == "run.started" and d.get("resumed")] != []
    assert len([1 for k, d in kinds if k == "run.started" and d.get("resumed")]) == 1
    assert Step.objects.filter(run=run, node_id="paid").count() == 1
    assert ApprovalDecision.objects.filter(approval=approval).count() == 1

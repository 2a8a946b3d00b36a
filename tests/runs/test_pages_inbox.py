"""The approvals inbox page: who sees what, deciding from the page (audited), errors in words."""

import re

import pytest
from django.contrib.auth.models import Group

from builder.models import Flow
from runs.executor import InlineExecutor
from runs.models import Approval, ApprovalDecision, Run
from runs.services import approval_decide, run_start
from runs.views.inbox import review_payload
from workspaces.models import Membership, Role, Workspace

from .support import fast_passwords  # noqa: F401

HTMX = {"HX-Request": "true"}


@pytest.fixture
def people(demo, make_user):
    """The demo workspace's chef (owner) plus an approver, a viewer and an outsider."""
    workspace = demo["workspace"]
    approver = make_user("bea")
    Membership.objects.create(workspace=workspace, user=approver, role=Role.APPROVER)
    viewer = make_user("vic")
    Membership.objects.create(workspace=workspace, user=viewer, role=Role.VIEWER)
    outsider = make_user("otto")
    other = Workspace.objects.create(name="Elsewhere", slug="elsewhere")
    Membership.objects.create(workspace=other, user=outsider, role=Role.OWNER)
    return {"chef": demo["owner"], "bea": approver, "vic": viewer, "otto": outsider}


@pytest.fixture
def waiting_recipe(people, llm_server):
    """A recipe run paused at the chef-approval node (assigned to owners, editors, approvers)."""

    def start(instructions: str | None = None) -> Approval:
        if instructions is not None:
            llm_server.on("Write cooking instructions", _text(instructions))
        flow = Flow.objects.get(workspace__slug="demo", name="Recipe assistant")
        run = run_start(user=people["chef"], flow=flow, inputs=None)
        InlineExecutor().advance(run.pk)
        run.refresh_from_db()
        assert run.status == "waiting", (run.error_code, run.error_message)
        return Approval.objects.get(run=run)

    return start


def _text(content):
    from tests.llmserver import text

    return text(content)


def page(client, user, url, **kwargs):
    client.force_login(user)
    return client.get(url, **kwargs)


def test_inbox_pages_require_login(client, db):
    for url in ("/approvals/", "/approvals/1/", "/approvals/badge/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    response = client.post("/approvals/1/decide/", {"decision": "approved"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_inbox_empty_state(client, people):
    response = page(client, people["bea"], "/approvals/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "You're all caught up" in content
    assert 'data-testid="approvals-empty"' in content
    assert 'data-count="0"' in content  # the navigation badge, hidden at zero


def test_inbox_lists_and_shows_an_assigned_approval(client, people, waiting_recipe):
    approval = waiting_recipe()
    response = page(client, people["bea"], "/approvals/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Chef approval" in content and "Recipe assistant" in content
    assert f'href="/runs/{approval.run_id}/"' in content
    assert "Check the instructions for vegetable lasagne before publishing." in content
    assert 'data-count="1"' in content
    assert "Cooking instructions" in content  # payload keys are named after their nodes

    detail = page(client, people["bea"], f"/approvals/{approval.pk}/")
    assert detail.status_code == 200
    partial = client.get(
        f"/approvals/{approval.pk}/", headers={**HTMX, "HX-Target": "approval-detail"}
    )
    assert partial.status_code == 200
    assert partial.content.decode().lstrip().startswith('<section id="approval-detail"')


def test_inbox_hides_approvals_from_non_assignees_and_other_workspaces(
    client, people, waiting_recipe
):
    approval = waiting_recipe()
    for who in ("vic", "otto"):  # a viewer in the workspace (not assigned), an outsider
        listing = page(client, people[who], "/approvals/").content.decode()
        assert "Chef approval" not in listing
        assert page(client, people[who], f"/approvals/{approval.pk}/").status_code == 404
        response = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approved"})
        assert response.status_code == 404
    assert not ApprovalDecision.objects.exists()
    assert Approval.objects.get(pk=approval.pk).status == "pending"


def test_approval_urls_with_impossible_ids_are_404(client, people):
    client.force_login(people["bea"])
    for url in ("/approvals/0/", "/approvals/99999999999999999999999/", "/approvals/123456/"):
        assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "?show=bogus",
        "?page=abc",
        "?page=-3",
        "?page=999999999999999999999999",
        "?show=decided&page=0",
    ],
)
def test_inbox_odd_query_strings_do_not_break_it(client, people, waiting_recipe, query):
    waiting_recipe()
    assert page(client, people["bea"], "/approvals/" + query).status_code == 200


def test_llm_text_in_the_payload_is_escaped_never_html(client, people, waiting_recipe):
    evil = '<script>alert("owned")</script><img src=x onerror=alert(1)> Bake 30 min.'
    approval = waiting_recipe(instructions=evil)
    assert evil in approval.payload["cooking_instructions"]
    content = page(client, people["bea"], f"/approvals/{approval.pk}/").content.decode()
    assert '<script>alert("owned")</script>' not in content
    assert "<img src=x" not in content
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in content


def test_json_values_are_pretty_printed(client, people, waiting_recipe):
    approval = waiting_recipe()
    approval.payload = {
        "cooking_instructions": "Boil.",
        "shopping_list": {"items": ["eggs", "flour"]},
    }
    approval.save(update_fields=["payload"])
    content = page(client, people["bea"], f"/approvals/{approval.pk}/").content.decode()
    assert re.search(r'<pre class="sb-json"[^>]*>\{\n  &quot;items&quot;: \[\n', content)


def test_approve_from_the_page_is_audited_and_resumes_the_run(client, people, waiting_recipe):
    approval = waiting_recipe()
    client.force_login(people["bea"])
    response = client.post(
        f"/approvals/{approval.pk}/decide/",
        {"decision": "approved", "comment": "Looks tasty"},
        headers={**HTMX, "HX-Target": "approval-detail"},
    )
    assert response.status_code == 200
    assert "approvals-changed" in response["HX-Trigger"]
    content = response.content.decode()
    assert "Approved. The run continues." in content
    decision = ApprovalDecision.objects.get(approval=approval)
    assert (decision.user, decision.decision, decision.comment) == (
        people["bea"],
        "approved",
        "Looks tasty",
    )
    assert decision.edited_payload is None
    assert "Looks tasty" in content and "bea" in content  # the audit trail on the page
    InlineExecutor().advance(approval.run_id)
    assert Run.objects.get(pk=approval.run_id).status == "succeeded"


def test_approve_with_edits_from_the_page(client, people, waiting_recipe):
    approval = waiting_recipe()
    keys = list(review_payload(approval))  # the order the page shows and posts them in
    index = keys.index("cooking_instructions")
    client.force_login(people["bea"])
    response = client.post(
        f"/approvals/{approval.pk}/decide/",
        {"decision": "approved", f"value-{index}": "1. Boil water.\r\n2. Add pasta."},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "Approved with your edits" in response.content.decode()
    decision = ApprovalDecision.objects.get(approval=approval)
    assert decision.edited_payload["cooking_instructions"] == "1. Boil water.\n2. Add pasta."
    InlineExecutor().advance(approval.run_id)
    run = Run.objects.get(pk=approval.run_id)
    assert run.result["recipe"]["cooking_instructions"] == "1. Boil water.\n2. Add pasta."
    audit = client.get(f"/approvals/{approval.pk}/").content.decode()
    assert "with edits" in audit and "Changed Cooking instructions" in audit
    assert "Values as approved, with edits" in audit and "2. Add pasta." in audit


def test_unchanged_edit_fields_are_not_recorded_as_edits(client, people, waiting_recipe):
    approval = waiting_recipe()
    client.force_login(people["bea"])
    fields = {
        f"value-{i}": v
        for i, v in enumerate(review_payload(approval).values())
        if isinstance(v, str)
    }
    client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approved", **fields})
    assert ApprovalDecision.objects.get(approval=approval).edited_payload is None


def test_invalid_json_edit_says_where_and_records_nothing(client, people, waiting_recipe):
    approval = waiting_recipe()
    approval.payload = {**approval.payload, "extra": {"a": 1}}
    approval.save(update_fields=["payload"])
    index = list(review_payload(approval)).index("extra")
    client.force_login(people["bea"])
    response = client.post(
        f"/approvals/{approval.pk}/decide/",
        {"decision": "approved", f"value-{index}": '{"a": 1,,}'},
        headers=HTMX,
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "This is not valid JSON" in content and "line 1" in content
    assert "{&quot;a&quot;: 1,,}" in content  # the approver's text is kept for fixing
    assert not ApprovalDecision.objects.exists()


def test_reject_needs_a_comment(client, people, waiting_recipe):
    approval = waiting_recipe()
    client.force_login(people["bea"])
    response = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "rejected"})
    assert response.status_code == 422
    assert "Say why you reject it" in response.content.decode()
    response = client.post(
        f"/approvals/{approval.pk}/decide/", {"decision": "rejected", "comment": "Too salty"}
    )
    assert response.status_code == 302  # without htmx: back to the approval's page
    assert response["Location"] == f"/approvals/{approval.pk}/"
    followed = client.get(response["Location"]).content.decode()
    assert "Rejected. The flow takes its “rejected” path." in followed
    assert Approval.objects.get(pk=approval.pk).status == "rejected"


def test_conflicting_decision_shows_a_readable_message(client, people, waiting_recipe):
    approval = waiting_recipe()
    approval_decide(user=people["chef"], approval_id=approval.pk, decision="rejected", comment="No")
    client.force_login(people["bea"])
    response = client.post(
        f"/approvals/{approval.pk}/decide/", {"decision": "approved"}, headers=HTMX
    )
    assert response.status_code == 409
    content = response.content.decode()
    assert "Your decision was not recorded: chef already rejected this on" in content
    assert "decisions cannot be changed" in content
    assert "approvals-changed" in response["HX-Trigger"]
    assert not ApprovalDecision.objects.filter(user=people["bea"]).exists()


def test_deciding_twice_the_other_way_is_refused_in_words(client, people, waiting_recipe):
    approval = waiting_recipe()
    approval.quorum = 2
    approval.save(update_fields=["quorum"])
    client.force_login(people["bea"])
    client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approved"})
    response = client.post(
        f"/approvals/{approval.pk}/decide/",
        {"decision": "rejected", "comment": "changed my mind"},
        headers=HTMX,
    )
    assert response.status_code == 409
    assert "you already approved this" in response.content.decode()
    # Still pending (quorum 2): it stays in the list, marked, and leaves the badge count.
    listing = client.get("/approvals/").content.decode()
    assert "You decided" in listing and 'data-count="0"' in listing


def test_decided_tab_shows_who_when_and_what(client, people, waiting_recipe):
    approval = waiting_recipe()
    approval_decide(
        user=people["chef"], approval_id=approval.pk, decision="rejected", comment="Needs salt"
    )
    content = page(client, people["bea"], "/approvals/?show=decided").content.decode()
    assert "Chef approval" in content and "Rejected" in content
    assert "Needs salt" in content and "chef" in content
    assert "UTC" in content  # when
    pending = client.get("/approvals/").content.decode()
    assert 'data-testid="approvals-empty"' in pending


def test_group_assignment_counts_and_viewer_cannot_decide(client, people, waiting_recipe):
    approval = waiting_recipe()
    reviewers = Group.objects.create(name="reviewers")
    people["vic"].groups.add(reviewers)
    approval.groups.add(reviewers)
    content = page(client, people["vic"], f"/approvals/{approval.pk}/").content.decode()
    assert "as a viewer you cannot decide approvals here" in content
    assert 'value="approved"' not in content
    response = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approved"})
    assert response.status_code == 403
    assert "You cannot decide this approval" in response.content.decode()


def test_list_partial_and_badge_for_live_refresh(client, people, waiting_recipe):
    waiting_recipe()
    client.force_login(people["bea"])
    listing = client.get("/approvals/", headers={**HTMX, "HX-Target": "approval-list"})
    assert listing.status_code == 200
    content = listing.content.decode()
    assert "<html" not in content and "Chef approval" in content
    badge = client.get("/approvals/badge/").content.decode()
    assert 'data-count="1"' in badge and " hidden>" not in badge


def test_the_badge_shows_on_every_page(client, people, waiting_recipe):
    waiting_recipe()
    client.force_login(people["chef"])
    for url in ("/", "/runs/", "/approvals/"):
        assert 'id="nav-approvals-count"' in client.get(url).content.decode()


def test_timed_out_and_closed_approvals_say_so(client, people, waiting_recipe):
    approval = waiting_recipe()
    Approval.objects.filter(pk=approval.pk).update(status="timed_out")
    content = page(client, people["bea"], f"/approvals/{approval.pk}/").content.decode()
    assert "Nobody decided in time" in content
    assert 'value="approved"' not in content


def test_decisions_need_the_csrf_token(people, waiting_recipe, api_for):
    approval = waiting_recipe()
    client = api_for(people["bea"], csrf=True).client
    url = f"/approvals/{approval.pk}/decide/"
    assert client.post(url, {"decision": "approved"}).status_code == 403
    assert not ApprovalDecision.objects.exists()
    client.get(f"/approvals/{approval.pk}/")  # sets the CSRF cookie, as the page does
    token = client.cookies["csrftoken"].value
    response = client.post(url, {"decision": "approved"}, headers={"X-CSRFToken": token, **HTMX})
    assert response.status_code == 200
    assert ApprovalDecision.objects.filter(user=people["bea"]).exists()


def test_edit_mode_works_without_javascript(client, people, waiting_recipe):
    approval = waiting_recipe()
    viewing = page(client, people["bea"], f"/approvals/{approval.pk}/").content.decode()
    assert 'data-editing="false"' in viewing
    assert re.search(r'<textarea [^>]*name="value-0"[^>]*disabled', viewing)
    editing = client.get(f"/approvals/{approval.pk}/?edit=1").content.decode()
    assert 'data-editing="true"' in editing
    assert not re.search(r'<textarea [^>]*name="value-0"[^>]*disabled', editing)


def _task_graph(error_branch: bool, **policy) -> dict:
    def node(node_id, type_, **config):
        return {"id": node_id, "type": type_, "label": node_id.title(), "config": config}

    def edge(source, target, port="out"):
        return {"id": f"{source}.{port}", "source": source, "source_port": port,
                "target": target, "target_port": "in"}  # fmt: skip

    nodes = [
        node("in", "input", schema={"type": "object", "properties": {"dish": {}}}),
        node(
            "listing",
            "prompt",
            prompt="List for {{ inputs.dish }}",
            retries=0,
            on_failure="ask",
            **policy,
        ),
        node("done", "output", name="shopping"),
    ]
    edges = [edge("in", "listing"), edge("listing", "done")]
    if error_branch:
        nodes.append(node("sorry", "output", name="problem"))
        edges.append(edge("listing", "sorry", "error"))
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


def _waiting_task(people, llm_server, graph) -> Approval:
    from builder.services import flow_publish
    from tests.llmserver import http_error

    llm_server.on("List for", http_error(400))
    flow = Flow.objects.create(workspace=people["chef"].memberships.first().workspace,
                               name="Shopping", graph=graph)  # fmt: skip
    flow_publish(flow=flow, user=people["chef"])
    run = run_start(user=people["chef"], flow=flow, inputs={"dish": "soup"})
    InlineExecutor().advance(run.pk)
    return Approval.objects.get(run=run, kind="fallback")


def _plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_inbox_shows_when_a_task_expires_what_then_happens_and_its_reminder(
    client, people, llm_server
):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.services import reminders_send

    graph = _task_graph(False, fallback_timeout="2h", fallback_remind_after="1h")
    task = _waiting_task(people, llm_server, graph)
    assert task.status == "pending" and task.due_at and task.remind_at

    listed = _plain(page(client, people["chef"], "/approvals/").content.decode())
    assert "Expires in 2 h, then fails the step · Reminder in 1 h" in listed
    shown = _plain(
        page(client, people["chef"], f"/approvals/{task.pk}/", headers=HTMX).content.decode()
    )
    assert "expires in 2 h, then fails the run (at " in shown
    assert "reminder in 1 h (at " in shown

    # 70 minutes later the reminder goes out; the task expires 50 minutes after that.
    earlier = timedelta(minutes=70)
    Approval.objects.filter(pk=task.pk).update(
        created_at=task.created_at - earlier,
        due_at=task.due_at - earlier,
        remind_at=task.remind_at - earlier,
    )
    reminders_send(timezone.now())
    task.refresh_from_db()
    assert task.reminded_at is not None
    listed = _plain(page(client, people["chef"], "/approvals/").content.decode())
    assert "Expires in 50 min, then fails the step · Reminder sent just now" in listed
    shown = _plain(
        page(client, people["chef"], f"/approvals/{task.pk}/", headers=HTMX).content.decode()
    )
    sent = task.reminded_at.strftime("%Y")
    assert "reminder sent just now (at " in shown and sent in shown

    # Past its expiry but not yet swept, it says what the next check will do.
    Approval.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    shown = _plain(
        page(client, people["chef"], f"/approvals/{task.pk}/", headers=HTMX).content.decode()
    )
    assert "expired 5 min ago: fails the run at the next check" in shown


@pytest.mark.parametrize(
    ("error_branch", "action", "expected"),
    [
        (True, "fail", "expires in 1 day, then fails the step, down its Error path"),
        (True, "branch", "expires in 1 day, then fails the step as timed out, down its Error path"),
    ],
)
def test_inbox_says_a_task_expiring_takes_its_error_path(
    client, people, llm_server, error_branch, action, expected
):
    graph = _task_graph(error_branch, fallback_timeout="24h", fallback_timeout_action=action)
    task = _waiting_task(people, llm_server, graph)
    shown = _plain(
        page(client, people["chef"], f"/approvals/{task.pk}/", headers=HTMX).content.decode()
    )
    assert expected in shown
    assert "reminder" not in shown.lower().replace("reminders", "")


def test_inbox_shows_when_an_approval_is_approved_automatically(client, people, waiting_recipe):
    from datetime import timedelta

    approval = waiting_recipe()
    Approval.objects.filter(pk=approval.pk).update(
        due_at=approval.created_at + timedelta(hours=3, minutes=1), timeout_action="approved"
    )
    listed = _plain(page(client, people["chef"], "/approvals/").content.decode())
    assert "Due in 3 h, then it is approved automatically" in listed

"""Whoever must act is told: one email and one webhook call per waiting approval, failures to
the person who started the run, preferences respected, and a dead webhook never fails a run."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from builder.models import Flow
from notifications import services
from notifications.models import Notification, Preference, WorkspaceWebhook
from runs.executor import InlineExecutor
from runs.models import Approval
from runs.services import run_start
from tests.llmserver import http_error
from tests.runs.support import wait_until
from vault.services import credential_create

pytestmark = pytest.mark.django_db(transaction=True)


class Hook:
    """A Slack-like receiver on loopback that records the JSON it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                hook.received.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/xyz"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(settings):
    settings.SWITCHBOARD_ALLOW_LOOPBACK = True
    receiver = Hook()
    yield receiver
    receiver.close()


@pytest.fixture
def owner(demo):
    user = demo["owner"]
    user.email = "chef@example.com"
    user.save(update_fields=["email"])
    return user


def use_webhook(workspace, owner, url, kinds=("approval", "failure")):
    credential_create(user=owner, workspace_id=workspace.pk, name="slack_hook", value=url)
    services.webhook_update(
        actor=owner, workspace=workspace, credential="slack_hook", kinds=list(kinds), enabled=True
    )


def start(flow_name, demo, owner):
    flow = Flow.objects.get(workspace=demo["workspace"], name=flow_name)
    run = run_start(user=owner, flow=flow, inputs=None)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def test_a_waiting_approval_sends_one_email_and_one_webhook_call(demo, owner, hook, inline):
    use_webhook(demo["workspace"], owner, hook.url)
    run = start("Recipe assistant", demo, owner)
    assert run.status == "waiting", (run.error_code, run.error_message)
    approval = Approval.objects.get(run=run)
    wait_until(lambda: len(mail.outbox) == 1 and len(hook.received) == 1, timeout=30)
    email = mail.outbox[0]
    assert email.to == ["chef@example.com"]
    assert approval.title in email.subject
    assert f"/approvals/{approval.pk}/" in email.body
    assert f"/approvals/{approval.pk}/" in hook.received[0]["text"]
    # The same event delivered again (a retried commit hook, a second process): nothing more.
    events = list(run.events.filter(kind="approval.requested").values("kind", "run_id", "data"))
    services.deliver(events, demo["workspace"].pk)
    assert len(mail.outbox) == 1 and len(hook.received) == 1
    rows = Notification.objects.filter(kind="approval")
    assert sorted(rows.values_list("channel", "status")) == [("email", "sent"), ("webhook", "sent")]
    # The webhook URL is a secret: it is in no notification row.
    assert not Notification.objects.filter(recipient__contains="127.0.0.1").exists()


def test_a_failed_run_emails_the_person_who_started_it(demo, owner, inline, llm_server):
    llm_server.on("A trip to", http_error(400, message="model not found"))
    run = start("Trip budget", demo, owner)
    assert run.status == "failed"
    wait_until(lambda: len(mail.outbox) == 1, timeout=30)
    assert mail.outbox[0].to == ["chef@example.com"]
    assert f"Run #{run.pk}" in mail.outbox[0].subject and "failed" in mail.outbox[0].subject
    assert f"/runs/{run.pk}/" in mail.outbox[0].body


def test_preferences_turn_emails_off(demo, owner, inline):
    Preference.objects.create(user=owner, workspace=demo["workspace"], email_approval=False)
    run = start("Recipe assistant", demo, owner)
    assert run.status == "waiting"
    # The run's events are delivered on the pool; deliver once more here and wait for both.
    services.deliver(
        list(run.events.filter(kind="approval.requested").values("kind", "run_id", "data")),
        demo["workspace"].pk,
    )
    assert mail.outbox == []
    assert not Notification.objects.filter(channel="email").exists()


def test_a_dead_webhook_is_logged_and_the_run_goes_on(demo, owner, settings, inline):
    settings.SWITCHBOARD_ALLOW_LOOPBACK = True
    dead = Hook(status=500)
    try:
        use_webhook(demo["workspace"], owner, dead.url)
        run = start("Recipe assistant", demo, owner)
        assert run.status == "waiting"
        wait_until(
            lambda: Notification.objects.filter(channel="webhook", status="failed").exists(),
            timeout=30,
        )
    finally:
        dead.close()
    row = Notification.objects.get(channel="webhook")
    assert "500" in row.error
    assert len(mail.outbox) == 1  # the email still went


def test_a_webhook_to_a_private_address_is_refused(demo, owner, settings):
    settings.SWITCHBOARD_ALLOW_LOOPBACK = False
    use_webhook(demo["workspace"], owner, "http://127.0.0.1:9/hook")
    from config.domain import Invalid

    with pytest.raises(Invalid) as caught:
        services.webhook_test(actor=owner, workspace=demo["workspace"])
    assert caught.value.code == "webhook_failed"


def test_only_owners_set_the_webhook_and_only_known_credentials(demo, owner, make_user):
    from config.domain import Invalid, NotAllowed
    from workspaces.models import Membership

    editor = make_user("ed")
    Membership.objects.create(workspace=demo["workspace"], user=editor, role="editor")
    with pytest.raises(NotAllowed):
        services.webhook_update(
            actor=editor, workspace=demo["workspace"], credential="x", kinds=[], enabled=True
        )
    with pytest.raises(Invalid) as caught:
        services.webhook_update(
            actor=owner, workspace=demo["workspace"], credential="nope", kinds=[], enabled=True
        )
    assert caught.value.code == "unknown_credential"
    assert not WorkspaceWebhook.objects.exists()


def test_the_notifications_page(demo, owner, client, hook):
    credential_create(
        user=owner, workspace_id=demo["workspace"].pk, name="slack_hook", value=hook.url
    )
    client.force_login(owner)
    url = f"/settings/{demo['workspace'].pk}/notifications/"
    page = client.get(url)
    assert page.status_code == 200
    assert "slack_hook" in page.content.decode()
    saved = client.post(url, {"action": "preferences", "email_failure": "on"}, follow=True)
    assert "Saved your email choices." in saved.content.decode()
    pref = Preference.objects.get(user=owner)
    assert (pref.email_approval, pref.email_failure, pref.email_budget) == (False, True, False)
    set_hook = client.post(
        url,
        {"action": "webhook", "credential": "slack_hook", "hook_approval": "on", "enabled": "on"},
        follow=True,
    )
    assert "Saved the workspace webhook." in set_hook.content.decode()
    assert hook.url not in set_hook.content.decode()
    tested = client.post(url, {"action": "webhook_test"}, follow=True)
    assert "Test message delivered." in tested.content.decode()
    assert hook.received and "Test message" in hook.received[0]["text"]
    bad = client.post(url, {"action": "webhook", "credential": "missing"})
    assert bad.status_code == 422 and "no credential named" in bad.content.decode()
    assert client.get("/settings/99999999999999999999/notifications/").status_code == 404

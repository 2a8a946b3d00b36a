"""Tell whoever must act: an approval (or a task handed to a person) waiting, a run that failed,
a budget alert — by email and by the workspace's outgoing webhook.

Committed run events reach `events_committed` (registered with runs' event listeners); the
relevant ones are delivered on a small thread pool, off the run's path. Each notification is a
row with a unique key created before sending, so a redelivered event never notifies twice. A
failure to notify is logged on that row and never touches the run.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction

from config.domain import Invalid, NotAllowed
from runs.engine.secrets import UnknownSecret
from runs.models import Approval, ApprovalStatus, Run
from runs.tools.addresses import is_public_address, is_public_or_loopback
from runs.tools.base import ToolError
from runs.tools.fetch import fetch
from workspaces.models import Membership, Role, Workspace
from workspaces.services import membership_for

from .models import Kind, Notification, Preference, Status, WorkspaceWebhook

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 5.0
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="switchboard-notify")


def _kind_of(event_kind: str) -> str | None:
    if event_kind == "approval.requested":
        return Kind.APPROVAL
    if event_kind in ("run.failed", "run.dead_letter"):
        return Kind.FAILURE
    if event_kind.startswith("budget."):
        return Kind.BUDGET
    return None


def events_committed(events: list[dict[str, Any]], workspace_id: int | None) -> None:
    """The event listener: cheap filtering here, delivery on the pool."""
    wanted = [event for event in events if _kind_of(event.get("kind", ""))]
    if not wanted or workspace_id is None:
        return
    if getattr(settings, "SWITCHBOARD_NOTIFY_INLINE", False):
        deliver(wanted, workspace_id)
    else:
        _pool.submit(_deliver_on_pool, wanted, workspace_id)


def _deliver_on_pool(events: list[dict[str, Any]], workspace_id: int) -> None:
    try:
        deliver(events, workspace_id)
    except Exception:
        logger.exception("Notifications for workspace %s could not be prepared", workspace_id)
    finally:
        connection.close()


@dataclass
class Message:
    kind: str
    ref: str
    subject: str
    link: str
    run_id: int | None
    recipients: list[Any]


def _url(path: str) -> str:
    return settings.SWITCHBOARD_PUBLIC_URL.rstrip("/") + path


def _message(event: dict[str, Any], workspace_id: int) -> Message | None:
    kind = _kind_of(event["kind"])
    data = event.get("data") or {}
    run_id = event.get("run_id")
    if kind == Kind.APPROVAL:
        approval = (
            Approval.objects.select_related("run__flow")
            .filter(pk=data.get("approval_id"), workspace_id=workspace_id)
            .first()
        )
        return None if approval is None else _approval_message(approval)
    run = Run.objects.select_related("flow", "created_by").filter(pk=run_id).first()
    if run is None:
        return None
    if kind == Kind.FAILURE:
        reason = (run.error_message or run.error_code or "no reason recorded")[:200]
        return Message(
            kind=kind,
            ref=f"failure:{run.pk}",
            subject=f"Run #{run.pk} of {run.flow.name} failed: {reason}",
            link=_url(f"/runs/{run.pk}/"),
            run_id=run.pk,
            recipients=[run.created_by] if run.created_by else [],
        )
    owners = get_user_model().objects.filter(
        memberships__workspace_id=workspace_id, memberships__role=Role.OWNER
    )
    text = str(data.get("message") or data.get("reason") or "A budget reached its alert level")
    return Message(
        kind=kind,
        ref=f"budget:{run.pk}:{event.get('seq')}",
        subject=f"Budget alert in {run.flow.name}: {text[:200]}",
        link=_url(f"/runs/{run.pk}/"),
        run_id=run.pk,
        recipients=list(owners),
    )


def _approval_message(approval: Approval, *, reminder: bool = False) -> Message:
    """Tell an approval's (or a task's) assignees that it waits for them: the first time, or
    (`reminder`) once more, under a key of its own."""
    users = set(approval.users.all())
    users.update(
        get_user_model().objects.filter(
            groups__in=approval.groups.all(), memberships__workspace_id=approval.workspace_id
        )
    )
    what = f"{approval.title} ({approval.run.flow.name})"
    return Message(
        kind=Kind.APPROVAL,
        ref=f"{'reminder' if reminder else 'approval'}:{approval.pk}",
        subject=f"Reminder, still waiting for you: {what}"
        if reminder
        else f"Waiting for you: {what}",
        link=_url(f"/approvals/{approval.pk}/"),
        run_id=approval.run_id,
        recipients=sorted(users, key=lambda u: u.pk),
    )


def _claim(
    workspace_id: int, message: Message, channel: str, recipient: str
) -> Notification | None:
    """Create the notification's row; None if it already exists (it is someone else's)."""
    try:
        with transaction.atomic():
            return Notification.objects.create(
                workspace_id=workspace_id,
                kind=message.kind,
                channel=channel,
                recipient=recipient[:254],
                key=f"{message.ref}:{channel}:{recipient}"[:400],
                subject=message.subject[:300],
                link=message.link[:500],
                run_id=message.run_id,
            )
    except IntegrityError:
        return None


def _finish(row: Notification, error: str = "") -> None:
    row.status = Status.FAILED if error else Status.SENT
    row.error = error[:2000]
    row.save(update_fields=["status", "error"])
    if error:
        logger.warning("Notification %s (%s) was not delivered: %s", row.pk, row.key, error)


def _email(workspace_id: int, message: Message) -> None:
    prefs = {
        p.user_id: p
        for p in Preference.objects.filter(
            workspace_id=workspace_id, user__in=[u.pk for u in message.recipients]
        )
    }
    for user in message.recipients:
        pref = prefs.get(user.pk)
        if not user.email or (pref is not None and not pref.wants(message.kind)):
            continue
        row = _claim(workspace_id, message, "email", user.email)
        if row is None:
            continue
        body = (
            f"{message.subject}\n\nOpen it: {message.link}\n\n"
            f"Choose what you are told: {_url(f'/settings/{workspace_id}/notifications/')}\n"
        )
        try:
            send_mail(message.subject, body, None, [user.email])
        except Exception as exc:
            _finish(row, f"{type(exc).__name__}: {exc}")
        else:
            _finish(row)


def _address_policy():
    return is_public_or_loopback if settings.SWITCHBOARD_ALLOW_LOOPBACK else is_public_address


def post_webhook(url: str, message_text: str, link: str) -> None:
    """POST Slack-compatible JSON; raise ToolError on a refused address or a failed answer."""
    payload = {"text": f"{message_text}\n<{link}|Open in Switchboard>", "link": link}
    response = fetch(
        url,
        method="POST",
        headers={"Content-Type": "application/json"},
        body=json.dumps(payload).encode(),
        timeout=WEBHOOK_TIMEOUT,
        max_bytes=64 * 1024,
        max_redirects=0,
        address_allowed=_address_policy(),
    )
    if response.status >= 400:
        raise ToolError("http_error", f"the webhook answered HTTP {response.status}")


def _webhook_url(workspace_id: int, credential: str) -> str:
    from vault.services import credential_value

    return credential_value(workspace_id=workspace_id, name=credential)


def _webhook(workspace_id: int, message: Message) -> None:
    hook = WorkspaceWebhook.objects.filter(workspace_id=workspace_id, enabled=True).first()
    if hook is None or message.kind not in (hook.kinds or []):
        return
    row = _claim(workspace_id, message, "webhook", "workspace webhook")
    if row is None:
        return
    try:
        post_webhook(_webhook_url(workspace_id, hook.credential), message.subject, message.link)
    except ToolError as exc:
        _finish(row, exc.message)
    except Exception as exc:
        # Never the URL (a secret) in the log: only what kind of failure it was.
        _finish(row, f"{type(exc).__name__}: the webhook could not be called")
    else:
        _finish(row)


def deliver(events: list[dict[str, Any]], workspace_id: int) -> None:
    for event in events:
        try:
            message = _message(event, workspace_id)
            if message is None:
                continue
            _email(workspace_id, message)
            _webhook(workspace_id, message)
        except Exception:
            logger.exception(
                "Could not notify about event %s of run %s", event.get("kind"), event.get("run_id")
            )


MAX_REMINDERS_PER_SWEEP = 50


def reminders_send(now: datetime) -> list[int]:
    """The periodic job: send the one reminder of each approval or task still waiting at its
    reminder time (`Approval.remind_at`), by email and the workspace webhook.

    Each recipient's reminder is a notification row with a unique key, claimed before sending,
    so two sweepers at once send it once; `reminded_at` is set after delivery, so a sweep
    interrupted before it (a restart) is finished by the next one. Starts no runs.
    """
    due = (
        Approval.objects.select_related("run__flow")
        .filter(status=ApprovalStatus.PENDING, remind_at__lte=now, reminded_at__isnull=True)
        .order_by("remind_at", "pk")[:MAX_REMINDERS_PER_SWEEP]
    )
    for approval in due:
        try:
            message = _approval_message(approval, reminder=True)
            _email(approval.workspace_id, message)
            _webhook(approval.workspace_id, message)
        except Exception:
            logger.exception("Could not remind anyone about approval %s", approval.pk)
        Approval.objects.filter(pk=approval.pk, reminded_at__isnull=True).update(reminded_at=now)
    return []


# ---- settings ------------------------------------------------------------------------------------


def preference_for(*, user, workspace_id: int) -> Preference:
    found = Preference.objects.filter(user=user, workspace_id=workspace_id).first()
    return found or Preference(user=user, workspace_id=workspace_id)


def preference_update(*, user, workspace_id: int, choices: dict[str, bool]) -> Preference:
    if membership_for(user=user, workspace_id=workspace_id) is None:
        raise NotAllowed("You are not a member of this workspace.")
    pref = preference_for(user=user, workspace_id=workspace_id)
    for kind in Kind.values:
        setattr(pref, f"email_{kind}", bool(choices.get(kind)))
    pref.save()
    return pref


def webhook_settings(*, workspace_id: int) -> WorkspaceWebhook | None:
    return WorkspaceWebhook.objects.filter(workspace_id=workspace_id).first()


def webhook_update(
    *, actor, workspace: Workspace, credential: str, kinds: list[str], enabled: bool
) -> WorkspaceWebhook | None:
    from vault.services import credential_names
    from workspaces.audit import record_audit

    membership = Membership.objects.filter(user=actor, workspace=workspace).first()
    if membership is None or not membership.can("manage"):
        raise NotAllowed("Only owners set the workspace's webhook.")
    credential = credential.strip()
    if not credential:
        WorkspaceWebhook.objects.filter(workspace=workspace).delete()
        record_audit(workspace=workspace, actor=actor, action="notifications.webhook_removed")
        return None
    if credential not in set(credential_names(workspace_id=workspace.pk)):
        raise Invalid(
            f"There is no credential named “{credential[:64]}”. Add the webhook URL under "
            "Credentials first, then pick it here.",
            code="unknown_credential",
        )
    unknown = set(kinds) - set(Kind.values)
    if unknown:
        raise Invalid("Pick what the webhook is told about from the list.", code="invalid_kinds")
    hook, _ = WorkspaceWebhook.objects.update_or_create(
        workspace=workspace,
        defaults={"credential": credential, "kinds": sorted(set(kinds)), "enabled": enabled},
    )
    record_audit(
        workspace=workspace,
        actor=actor,
        action="notifications.webhook_set",
        target=credential,
        detail={"kinds": hook.kinds, "enabled": enabled},
    )
    return hook


def webhook_test(*, actor, workspace: Workspace) -> None:
    """Send a test message now; raise Invalid with the reason when it can't be delivered."""
    membership = Membership.objects.filter(user=actor, workspace=workspace).first()
    if membership is None or not membership.can("manage"):
        raise NotAllowed("Only owners test the workspace's webhook.")
    hook = webhook_settings(workspace_id=workspace.pk)
    if hook is None:
        raise Invalid("Set the webhook first.", code="no_webhook")
    try:
        post_webhook(
            _webhook_url(workspace.pk, hook.credential),
            f"Test message from Switchboard ({workspace.name})",
            _url(f"/settings/{workspace.pk}/notifications/"),
        )
    except ToolError as exc:
        raise Invalid(
            f"The test message was not delivered: {exc.message}", code="webhook_failed"
        ) from None
    except UnknownSecret:
        raise Invalid(
            f"The credential “{hook.credential}” no longer exists: pick another.",
            code="unknown_credential",
        ) from None

"""Schedules and webhooks: manage them, fire due schedules, start runs from signed requests.

Both start the flow's published version (a trigger never runs a half-edited draft) as the
person who set the trigger up, with `trigger` recorded on the run. Services raise domain
errors; the views speak HTTP.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from builder.models import Flow
from config.domain import Conflict, Invalid, NotAllowed, NotFound, TooLarge, Unauthenticated
from runs.models import Run, Trigger
from runs.services import run_start
from runs.tools.base import ToolContext, ToolError
from runs.tools.json_query import json_query

from . import cron, signing
from .models import Missed, Schedule, Webhook

logger = logging.getLogger(__name__)

MAX_SCHEDULES_PER_FLOW = 20
MAX_WEBHOOK_BODY = 256 * 1024
MAX_MAPPING_FIELDS = 50
# How late a run may start and still count as on time (not "missed").
GRACE = timedelta(minutes=2)
# Due schedules one sweep pass fires (the rest wait for the next pass, seconds later).
FIRE_BATCH = 50


# ---- schedules ---------------------------------------------------------------------------------


def _clean_inputs(inputs: Any) -> dict[str, Any]:
    if inputs in (None, ""):
        return {}
    if not isinstance(inputs, dict):
        raise Invalid("The inputs must be a set of named values.", code="invalid_inputs")
    if len(json.dumps(inputs)) > 64 * 1024:
        raise TooLarge("The inputs are larger than 64 KB.", code="too_large")
    return inputs


def schedule_create(
    *,
    flow: Flow,
    user,
    cron_expression: str,
    tz: str = "UTC",
    inputs: Any = None,
    name: str = "",
    missed: str = Missed.ONCE,
    now: datetime | None = None,
) -> Schedule:
    cron.check(cron_expression, tz)
    if missed not in Missed.values:
        raise Invalid("Choose what happens to missed runs: once or skip.", code="invalid_missed")
    if flow.schedules.count() >= MAX_SCHEDULES_PER_FLOW:
        raise Conflict(f"A flow can have at most {MAX_SCHEDULES_PER_FLOW} schedules.")
    now = now or timezone.now()
    return Schedule.objects.create(
        flow=flow,
        name=name.strip()[:120],
        cron=" ".join(cron_expression.split()),
        timezone=tz,
        inputs=_clean_inputs(inputs),
        missed=missed,
        next_run_at=cron.next_after(cron_expression, tz, now),
        created_by=user,
    )


def schedule_get(*, flow: Flow, schedule_id: int) -> Schedule:
    found = flow.schedules.filter(pk=schedule_id).first()
    if found is None:
        raise NotFound("Schedule not found", code="not_found")
    return found


def schedule_set_enabled(
    *, schedule: Schedule, enabled: bool, now: datetime | None = None
) -> Schedule:
    now = now or timezone.now()
    schedule.enabled = enabled
    if enabled:
        # Re-enabling starts from now: what was missed while paused is not owed.
        schedule.next_run_at = cron.next_after(schedule.cron, schedule.timezone, now)
        schedule.last_error = ""
    schedule.save(update_fields=["enabled", "next_run_at", "last_error", "updated_at"])
    return schedule


def schedule_update(
    *,
    schedule: Schedule,
    cron_expression: str | None = None,
    tz: str | None = None,
    name: str | None = None,
    inputs: Any = None,
    missed: str | None = None,
    enabled: bool | None = None,
    now: datetime | None = None,
) -> Schedule:
    """Change what the caller gives; a new cron or time zone (or re-enabling) starts from now."""
    now = now or timezone.now()
    new_cron = " ".join(cron_expression.split()) if cron_expression is not None else schedule.cron
    new_tz = tz if tz is not None else schedule.timezone
    retimed = new_cron != schedule.cron or new_tz != schedule.timezone
    if retimed:
        cron.check(new_cron, new_tz)
    if missed is not None and missed not in Missed.values:
        raise Invalid(
            "Choose what happens to missed runs: once or skip.",
            code="invalid_missed",
            field="missed",
        )
    if inputs is not None:
        schedule.inputs = _clean_inputs(inputs)
    if name is not None:
        schedule.name = name.strip()[:120]
    if missed is not None:
        schedule.missed = missed
    reenabled = enabled is True and not schedule.enabled
    if enabled is not None:
        schedule.enabled = enabled
    schedule.cron, schedule.timezone = new_cron, new_tz
    if retimed or reenabled:
        schedule.next_run_at = cron.next_after(new_cron, new_tz, now)
        schedule.last_error = ""
    schedule.save()
    return schedule


def schedule_delete(*, schedule: Schedule) -> None:
    schedule.delete()


def _fire(schedule: Schedule, now: datetime) -> int | None:
    """Claim one due schedule and start its run; return the run id (None if not started)."""
    due_at = schedule.next_run_at
    assert due_at is not None
    following = cron.next_after(schedule.cron, schedule.timezone, now)
    with transaction.atomic():
        # The claim: only the sweeper that moves next_run_at from the value it read fires it.
        claimed = Schedule.objects.filter(pk=schedule.pk, next_run_at=due_at, enabled=True).update(
            next_run_at=following, last_run_at=now
        )
        if not claimed:
            return None
        late = now - due_at > GRACE
        if late and schedule.missed == Missed.SKIP:
            logger.info("Schedule %s skipped a run missed at %s", schedule.pk, due_at)
            return None
        flow = schedule.flow
        error = ""
        run: Run | None = None
        published = flow.published_version if flow.deleted_at is None else None
        if flow.deleted_at is not None:
            error = "The flow was deleted."
        elif published is None:
            error = "The flow has no published version yet: publish it to run on a schedule."
        else:
            try:
                run = run_start(
                    user=schedule.created_by,
                    flow=flow,
                    inputs=schedule.inputs or None,
                    version=published.number,
                    trigger=Trigger.SCHEDULE,
                )
            except (Invalid, NotFound, NotAllowed, Conflict) as exc:
                error = str(exc)
        Schedule.objects.filter(pk=schedule.pk).update(
            last_error=error[:1000], last_run=run, updated_at=now
        )
    return run.pk if run is not None else None


def fire_due_schedules(now: datetime) -> list[int]:
    """The sweeper's periodic job: start every schedule that is due; return the new runs."""
    due = (
        Schedule.objects.filter(enabled=True, next_run_at__lte=now)
        .select_related("flow", "created_by")
        .order_by("next_run_at")[:FIRE_BATCH]
    )
    started = []
    for schedule in due:
        try:
            run_id = _fire(schedule, now)
        except Exception:
            logger.exception("Schedule %s could not fire", schedule.pk)
            continue
        if run_id is not None:
            started.append(run_id)
    return started


# ---- webhooks ----------------------------------------------------------------------------------


def webhook_get(*, flow: Flow) -> Webhook | None:
    return Webhook.objects.filter(flow=flow).first()


def webhook_enable(*, flow: Flow, user) -> Webhook:
    hook, created = Webhook.objects.get_or_create(flow=flow, defaults={"created_by": user})
    if not created and not hook.enabled:
        hook.enabled = True
        hook.save(update_fields=["enabled"])
    return hook


def webhook_disable(*, flow: Flow) -> None:
    Webhook.objects.filter(flow=flow).update(enabled=False)


def webhook_rotate(*, flow: Flow) -> Webhook:
    hook = webhook_get(flow=flow)
    if hook is None:
        raise NotFound("This flow has no webhook yet.", code="not_found")
    hook.salt = Webhook._meta.get_field("salt").get_default()
    hook.save(update_fields=["salt"])
    return hook


def webhook_secret(hook: Webhook) -> str:
    return signing.webhook_secret(hook.public_id, hook.salt)


def webhook_set_mapping(*, flow: Flow, mapping: Any) -> Webhook:
    hook = webhook_get(flow=flow)
    if hook is None:
        raise NotFound("This flow has no webhook yet.", code="not_found")
    if not isinstance(mapping, dict) or len(mapping) > MAX_MAPPING_FIELDS:
        raise Invalid(
            "The mapping names each input and where to find it in the request body.",
            code="invalid_mapping",
        )
    clean = {}
    for field, expression in mapping.items():
        if not isinstance(field, str) or not field.strip():
            raise Invalid("Every mapped input needs a name.", code="invalid_mapping")
        if not isinstance(expression, str) or not expression.strip():
            raise Invalid(f"Say where “{field}” comes from in the body.", code="invalid_mapping")
        _query(expression, {})  # refuses an expression that can't be compiled
        clean[field.strip()] = expression.strip()
    hook.mapping = clean
    hook.save(update_fields=["mapping"])
    return hook


def _query(expression: str, body: Any) -> Any:
    try:
        return json_query({"expression": expression, "data": body}, ToolContext(timeout=1.0))[
            "result"
        ]
    except ToolError as exc:
        raise Invalid(f"“{expression[:80]}”: {exc.message}", code="invalid_mapping") from None


def map_inputs(mapping: dict[str, str], body: Any) -> dict[str, Any]:
    if not mapping:
        if not isinstance(body, dict):
            raise Invalid(
                "The request body must be a JSON object whose keys are the flow's inputs "
                "(or set a mapping).",
                code="invalid_body",
            )
        return body
    return {field: _query(expression, body) for field, expression in mapping.items()}


@dataclass
class Received:
    run: Run


def webhook_receive(
    *, public_id: str, body: bytes, signature: str | None, now: float | None = None
) -> Received:
    """Check a webhook request and start a run of the flow's published version.

    NotFound for an unknown or disabled hook, NotAllowed (401 at the edge) for a bad signature,
    TooLarge, Invalid for a body or inputs that don't fit, Conflict when nothing is published.
    Nothing is started unless every check passes.
    """
    hook = (
        Webhook.objects.select_related("flow", "created_by")
        .filter(public_id=public_id[:32], enabled=True, flow__deleted_at__isnull=True)
        .first()
    )
    if hook is None:
        raise NotFound("No such webhook.", code="not_found")
    if len(body) > MAX_WEBHOOK_BODY:
        raise TooLarge(f"The body is larger than {MAX_WEBHOOK_BODY // 1024} KB.", code="too_large")
    try:
        signing.verify(webhook_secret(hook), body, signature, now=now)
    except signing.BadSignature as exc:
        raise Unauthenticated(str(exc), code="bad_signature") from None
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Invalid("The body is not valid JSON.", code="invalid_body") from None
    published = hook.flow.published_version
    if published is None:
        raise Conflict(
            "The flow has no published version: publish it to start runs from its webhook.",
            code="not_published",
        )
    inputs = map_inputs(hook.mapping, payload)
    run = run_start(
        user=hook.created_by,
        flow=hook.flow,
        inputs=inputs,
        version=published.number,
        trigger=Trigger.WEBHOOK,
    )
    Webhook.objects.filter(pk=hook.pk).update(last_called_at=timezone.now())
    return Received(run=run)

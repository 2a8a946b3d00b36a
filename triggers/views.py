"""The webhook receiver and a flow's Triggers page (schedules and webhook, server-rendered)."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from builder.services import flow_get
from config.domain import DomainError, Invalid, NotAllowed, NotFound
from config.errors import http_status
from runs import dispatch
from runs.services.starting import input_schema
from runs.views.params import db_id
from workspaces.services import membership_for

from . import cron, services, signing
from .models import Missed

logger = logging.getLogger(__name__)

PRESETS = {
    "hourly": ("Every hour", "0 * * * *"),
    "daily": ("Every day at 09:00", "0 9 * * *"),
    "weekdays": ("Weekdays at 09:00", "0 9 * * 1-5"),
    "weekly": ("Every Monday at 09:00", "0 9 * * 1"),
    "monthly": ("On the 1st of each month at 09:00", "0 9 1 * *"),
}


@csrf_exempt
@require_http_methods(["POST"])
def hook(request: HttpRequest, public_id: str) -> HttpResponse:
    """Start a run from a signed POST. Answers 202 with the run, or an error that says why."""
    try:
        received = services.webhook_receive(
            public_id=public_id,
            body=request.body,
            signature=request.headers.get(signing.HEADER),
        )
    except DomainError as exc:
        body: dict[str, Any] = {"detail": exc.detail, "code": exc.code}
        if getattr(exc, "extra", None) and exc.extra.get("errors"):
            body["errors"] = exc.extra["errors"]
        return JsonResponse(body, status=http_status(exc))
    run = received.run
    dispatch.kick(run.pk)
    return JsonResponse(
        {
            "run_id": run.pk,
            "status": run.status,
            "url": request.build_absolute_uri(f"/runs/{run.pk}/"),
        },
        status=202,
    )


def _input_fields(flow) -> list[dict[str, Any]]:
    version = flow.published_version
    schema = input_schema(version.graph if version else flow.graph)
    required = set(schema.get("required") or [])
    fields = []
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        fields.append(
            {
                "name": name,
                "type": spec.get("type", "string"),
                "title": spec.get("title") or name.replace("_", " ").capitalize(),
                "required": name in required,
                "enum": spec.get("enum"),
            }
        )
    return fields


def _coerce(kind: Any, raw: str) -> Any:
    raw = raw.strip()
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        return raw.lower() in {"1", "true", "yes", "on"}
    if kind in ("array", "object"):
        return json.loads(raw)
    return raw


def _schedule_inputs(request: HttpRequest, fields: list[dict[str, Any]]) -> dict[str, Any]:
    inputs = {}
    for field in fields:
        raw = request.POST.get(f"input_{field['name']}", "")
        if raw.strip() == "":
            continue
        try:
            inputs[field["name"]] = _coerce(field["type"], raw)
        except (ValueError, TypeError):
            raise Invalid(f"“{field['title']}” must be a {field['type']}.") from None
    return inputs


def _parse_mapping(text: str) -> dict[str, str]:
    mapping = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        field, sep, expression = line.partition("=")
        if not sep:
            raise Invalid(f"Line {number}: write “input = where.in.body”.")
        mapping[field.strip()] = expression.strip()
    return mapping


def _act(request: HttpRequest, flow, action: str) -> str:
    """Apply one form action; return the notice to show."""
    if action == "add_schedule":
        preset = request.POST.get("preset", "custom")
        expression = PRESETS[preset][1] if preset in PRESETS else request.POST.get("cron", "")
        services.schedule_create(
            flow=flow,
            user=request.user,
            cron_expression=expression,
            tz=request.POST.get("timezone", "UTC").strip() or "UTC",
            inputs=_schedule_inputs(request, _input_fields(flow)),
            name=request.POST.get("name", ""),
            missed=request.POST.get("missed", Missed.ONCE),
        )
        return "Schedule added."
    if action in ("pause", "resume", "delete"):
        raw = request.POST.get("schedule", "")
        if not raw.isdigit() or len(raw) > 18:
            raise NotFound("Schedule not found")
        schedule = services.schedule_get(flow=flow, schedule_id=int(raw))
        if action == "delete":
            services.schedule_delete(schedule=schedule)
            return "Schedule deleted."
        services.schedule_set_enabled(schedule=schedule, enabled=action == "resume")
        return "Schedule resumed." if action == "resume" else "Schedule paused."
    if action == "webhook_on":
        services.webhook_enable(flow=flow, user=request.user)
        return "Webhook on. Send signed POST requests to its URL to start runs."
    if action == "webhook_off":
        services.webhook_disable(flow=flow)
        return "Webhook off: requests to its URL are refused."
    if action == "webhook_rotate":
        services.webhook_rotate(flow=flow)
        return "New secret made. Requests signed with the old one are refused from now on."
    if action == "webhook_mapping":
        services.webhook_set_mapping(
            flow=flow, mapping=_parse_mapping(request.POST.get("mapping", ""))
        )
        return "Mapping saved."
    raise NotFound("Unknown action")


@login_required
def flow_triggers(request: HttpRequest, flow_id: int) -> HttpResponse:
    db_id(flow_id)
    try:
        flow = flow_get(user=request.user, flow_id=flow_id)
    except NotFound:
        raise Http404("Flow not found") from None
    membership = membership_for(user=request.user, workspace_id=flow.workspace_id)
    can_edit = membership is not None and membership.can("edit")
    error = ""
    status = 200
    if request.method == "POST":
        try:
            if not can_edit:
                raise NotAllowed("Your role does not allow changing this flow's triggers.")
            notice = _act(request, flow, request.POST.get("action", ""))
        except DomainError as exc:
            error = str(exc.detail)
            status = http_status(exc)
        else:
            return redirect(reverse("triggers:flow_triggers", args=[flow.pk]) + f"?done={notice}")
    now = timezone.now()
    schedules = []
    for schedule in flow.schedules.select_related("last_run"):
        upcoming = []
        if schedule.enabled:
            upcoming = cron.upcoming(schedule.cron, schedule.timezone, now, 3)
        schedules.append({"obj": schedule, "upcoming": upcoming})
    hook_obj = services.webhook_get(flow=flow)
    context = {
        "nav": "flows",
        "flow": flow,
        "can_edit": can_edit,
        "published": flow.published_version,
        "schedules": schedules,
        "presets": [(key, label, expr) for key, (label, expr) in PRESETS.items()],
        "timezones": cron.timezones(),
        "fields": _input_fields(flow),
        "hook": hook_obj,
        "hook_url": request.build_absolute_uri(f"/hooks/{hook_obj.public_id}/") if hook_obj else "",
        "hook_secret": services.webhook_secret(hook_obj) if hook_obj and can_edit else "",
        "mapping_text": "\n".join(
            f"{k} = {v}" for k, v in (hook_obj.mapping if hook_obj else {}).items()
        ),
        "notice": (request.GET.get("done") or "")[:200] if not error else "",
        "error": error,
        "form": request.POST if error else {},
        "header": signing.HEADER,
    }
    return render(request, "triggers/flow_triggers.html", context, status=status)

"""The triggers API: a flow's schedules and its incoming webhook."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from builder.services import flow_get
from config.schemas import Id, StrictIn
from workspaces.services import membership_for

from . import cron, services
from .models import Schedule, Webhook

router = Router(tags=["triggers"])


class ScheduleIn(StrictIn):
    cron: str = Field(..., min_length=1, max_length=120, examples=["0 9 * * 1-5"])
    timezone: str = Field("UTC", max_length=64)
    name: str = Field("", max_length=120)
    inputs: dict[str, Any] = Field(default_factory=dict)
    missed: Literal["once", "skip"] = "once"


class SchedulePatch(StrictIn):
    enabled: bool | None = None
    cron: str | None = Field(None, min_length=1, max_length=120)
    timezone: str | None = Field(None, min_length=1, max_length=64)
    name: str | None = Field(None, max_length=120)
    inputs: dict[str, Any] | None = None
    missed: Literal["once", "skip"] | None = None


class ScheduleOut(Schema):
    id: int
    name: str
    cron: str
    timezone: str
    inputs: dict[str, Any]
    enabled: bool
    missed: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_run_id: int | None
    last_error: str
    upcoming: list[datetime]


class WebhookOut(Schema):
    url: str
    enabled: bool
    mapping: dict[str, str]
    last_called_at: datetime | None
    # Shown once, to an editor, when the hook is created or its secret rotated; never read back.
    secret: str | None = None
    signature_header: str = "X-Switchboard-Signature"


class MappingIn(StrictIn):
    mapping: dict[str, str]


def _schedule_out(schedule: Schedule) -> dict[str, Any]:
    upcoming = []
    if schedule.enabled and schedule.next_run_at:
        upcoming = [
            schedule.next_run_at,
            *cron.upcoming(schedule.cron, schedule.timezone, schedule.next_run_at, 2),
        ]
    return {
        "id": schedule.pk,
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "inputs": schedule.inputs,
        "enabled": schedule.enabled,
        "missed": schedule.missed,
        "next_run_at": schedule.next_run_at if schedule.enabled else None,
        "last_run_at": schedule.last_run_at,
        "last_run_id": schedule.last_run_id,
        "last_error": schedule.last_error,
        "upcoming": upcoming,
    }


def webhook_out(request: HttpRequest, hook: Webhook, *, with_secret: bool) -> dict[str, Any]:
    return {
        "url": request.build_absolute_uri(f"/hooks/{hook.public_id}/"),
        "enabled": hook.enabled,
        "mapping": hook.mapping,
        "last_called_at": hook.last_called_at,
        "secret": services.webhook_secret(hook) if with_secret else None,
    }


@router.get("/flows/{int:flow_id}/schedules", response=list[ScheduleOut])
def schedule_list(request: HttpRequest, flow_id: Id):
    flow = flow_get(user=request.user, flow_id=flow_id)
    return [_schedule_out(s) for s in flow.schedules.all()]


@router.post("/flows/{int:flow_id}/schedules", response={201: ScheduleOut})
def schedule_create(request: HttpRequest, flow_id: Id, payload: ScheduleIn):
    flow = flow_get(user=request.user, flow_id=flow_id, permission="edit")
    schedule = services.schedule_create(
        flow=flow,
        user=request.user,
        cron_expression=payload.cron,
        tz=payload.timezone,
        inputs=payload.inputs,
        name=payload.name,
        missed=payload.missed,
    )
    return Status(201, _schedule_out(schedule))


@router.patch("/flows/{int:flow_id}/schedules/{int:schedule_id}", response=ScheduleOut)
def schedule_update(request: HttpRequest, flow_id: Id, schedule_id: Id, payload: SchedulePatch):
    flow = flow_get(user=request.user, flow_id=flow_id, permission="edit")
    schedule = services.schedule_get(flow=flow, schedule_id=schedule_id)
    if payload.model_fields_set == {"enabled"} and payload.enabled is not None:
        return _schedule_out(
            services.schedule_set_enabled(schedule=schedule, enabled=payload.enabled)
        )
    schedule = services.schedule_update(
        schedule=schedule,
        cron_expression=payload.cron,
        tz=payload.timezone,
        name=payload.name,
        inputs=payload.inputs,
        missed=payload.missed,
        enabled=payload.enabled,
    )
    return _schedule_out(schedule)


@router.delete("/flows/{int:flow_id}/schedules/{int:schedule_id}", response={204: None})
def schedule_delete(request: HttpRequest, flow_id: Id, schedule_id: Id):
    flow = flow_get(user=request.user, flow_id=flow_id, permission="edit")
    services.schedule_delete(schedule=services.schedule_get(flow=flow, schedule_id=schedule_id))
    return Status(204, None)


@router.get("/flows/{int:flow_id}/webhook", response={200: WebhookOut, 404: Any})
def webhook_get(request: HttpRequest, flow_id: Id):
    flow = flow_get(user=request.user, flow_id=flow_id)
    hook = services.webhook_get(flow=flow)
    if hook is None:
        return Status(404, {"detail": "This flow has no webhook yet.", "code": "not_found"})
    return webhook_out(request, hook, with_secret=False)


@router.put("/flows/{int:flow_id}/webhook", response=WebhookOut)
def webhook_enable(request: HttpRequest, flow_id: Id):
    flow = flow_get(user=request.user, flow_id=flow_id, permission="edit")
    created = services.webhook_get(flow=flow) is None
    return webhook_out(
        request, services.webhook_enable(flow=flow, user=request.user), with_secret=created
    )


@router.delete("/flows/{int:flow_id}/webhook", response={204: None})
def webhook_disable(request: HttpRequest, flow_id: Id):
    flow = flow_get(user=request.user, flow_id=flow_id, permission="edit")
    services.webhook_disable(flow=flow)
    return Status(204, None)


@router.post("/flows/{int:flow_id}/webhook/rotate", response=WebhookOut)
def webhook_rotate(request: HttpRequest, flow_id: Id):
    flow = flow_get(user=request.user, flow_id=flow_id, permission="edit")
    return webhook_out(request, services.webhook_rotate(flow=flow), with_secret=True)


@router.put("/flows/{int:flow_id}/webhook/mapping", response=WebhookOut)
def webhook_mapping(request: HttpRequest, flow_id: Id, payload: MappingIn):
    flow = flow_get(user=request.user, flow_id=flow_id, permission="edit")
    hook = services.webhook_set_mapping(flow=flow, mapping=payload.mapping)
    return webhook_out(request, hook, with_secret=False)


def flow_can(request: HttpRequest, flow, permission: str = "edit") -> bool:
    membership = membership_for(user=request.user, workspace_id=flow.workspace_id)
    return membership is not None and membership.can(permission)

"""The flows API: flows, drafts, validation, versions, import/export, node types."""

from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Q, Subquery
from django.http import HttpRequest, JsonResponse
from ninja import Field, Query, Router, Schema, Status

from config.domain import TooLarge
from config.ratelimits import not_a_write
from config.schemas import CleanIn, Id, Name, StrictIn
from runs.engine.nodes import NODE_TYPES
from runs.tools import registry as tool_registry
from workspaces.services import membership_for

from . import services
from .graph import ERROR_CODES, WARNING_CODES
from .models import Flow, FlowVersion
from .starters import STARTERS

router = Router(tags=["flows"])


class FlowIn(StrictIn):
    workspace: Id
    name: Name
    description: str = Field("", max_length=5_000)
    graph: dict[str, Any] | None = None
    template: str | None = Field(
        None, max_length=64, description="Start from this starter flow (GET /api/starters)"
    )
    request_token: str = Field(
        "",
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="A token of the form submitting this; sending it again returns the same flow",
    )


class FlowPatch(StrictIn):
    name: Name | None = None
    description: str | None = Field(None, max_length=5_000)


class DraftIn(StrictIn):
    graph: dict[str, Any]
    revision: Id


class ValidateIn(StrictIn):
    graph: Any = None


class PublishIn(StrictIn):
    note: str = Field("", max_length=500)


class RestoreIn(StrictIn):
    revision: Id | None = None


class ImportIn(StrictIn):
    workspace: Id
    document: dict[str, Any]
    name: Name | None = None


class GraphErrorOut(Schema):
    code: str
    message: str
    node_id: str | None
    edge_id: str | None
    field: str | None


class FlowSummaryOut(Schema):
    id: int
    workspace: int
    name: str
    description: str
    revision: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    published_version: int | None
    node_count: int


class FlowOut(FlowSummaryOut):
    graph: dict[str, Any]
    role: str


class SaveOut(Schema):
    revision: int
    valid: bool
    errors: list[GraphErrorOut]
    # What will fail when the flow runs, without making it invalid (graph.W… codes).
    warnings: list[GraphErrorOut]


class ValidateOut(Schema):
    valid: bool
    errors: list[GraphErrorOut]
    warnings: list[GraphErrorOut]


class VersionOut(Schema):
    number: int | None
    note: str
    published: bool
    created_by: str | None
    created_at: datetime


class VersionDetailOut(VersionOut):
    graph: dict[str, Any]


class PublishOut(VersionOut):
    warnings: list[GraphErrorOut]


def _published_number(flow: Flow) -> int | None:
    if hasattr(flow, "published_number"):  # annotated by the list query
        return flow.published_number
    published = flow.published_version
    return published.number if published else None


def _summary(flow: Flow) -> dict[str, Any]:
    return {
        "id": flow.pk,
        "workspace": flow.workspace_id,
        "name": flow.name,
        "description": flow.description,
        "revision": flow.revision,
        "created_by": flow.created_by.get_username() if flow.created_by else None,
        "created_at": flow.created_at,
        "updated_at": flow.updated_at,
        "published_version": _published_number(flow),
        "node_count": len(flow.graph.get("nodes", [])) if isinstance(flow.graph, dict) else 0,
    }


def _detail(flow: Flow, user) -> dict[str, Any]:
    membership = membership_for(user=user, workspace_id=flow.workspace_id)
    return {**_summary(flow), "graph": flow.graph, "role": membership.role if membership else ""}


def _version(version: FlowVersion, *, with_graph: bool = False) -> dict[str, Any]:
    out = {
        "number": version.number,
        "note": version.note,
        "published": version.published,
        "created_by": version.created_by.get_username() if version.created_by else None,
        "created_at": version.created_at,
    }
    if with_graph:
        out["graph"] = version.graph
    return out


class FlowFilter(CleanIn):
    workspace: Id | None = None
    q: str | None = Field(None, max_length=200)


@router.get("/flows", response=list[FlowSummaryOut])
def flow_list(request: HttpRequest, filters: Query[FlowFilter]):
    flows = Flow.objects.visible_to(request.user).select_related("created_by")
    if filters.workspace is not None:
        flows = flows.filter(workspace_id=filters.workspace)
    if filters.q:
        flows = flows.filter(Q(name__icontains=filters.q) | Q(description__icontains=filters.q))
    published = FlowVersion.objects.filter(flow=OuterRef("pk"), published=True).order_by("-number")
    flows = flows.annotate(published_number=Subquery(published.values("number")[:1]))
    return [_summary(flow) for flow in flows[:500]]


class CallableFilter(CleanIn):
    workspace: Id
    exclude: Id | None = Field(None, description="Leave this flow out (the one being edited)")


class CallableFlowOut(Schema):
    id: int
    name: str
    description: str
    versions: list[int] = Field(description="Published version numbers, newest first")
    input_schema: dict[str, Any] = Field(description="The latest published version's inputs")


@router.get("/flows/callable", response=list[CallableFlowOut])
def flow_callable(request: HttpRequest, filters: Query[CallableFilter]):
    """The published flows of a workspace a sub-flow node may call, with their input fields."""
    return services.callable_flows(
        user=request.user, workspace_id=filters.workspace, exclude=filters.exclude
    )


@router.post("/flows", response={201: FlowOut})
def flow_create(request: HttpRequest, payload: FlowIn):
    flow = services.flow_create(
        user=request.user,
        workspace_id=payload.workspace,
        name=payload.name,
        description=payload.description,
        graph=payload.graph,
        template=payload.template,
        request_token=payload.request_token,
    )
    return Status(201, _detail(flow, request.user))


@router.get("/flows/{int:flow_id}", response=FlowOut)
def flow_get(request: HttpRequest, flow_id: Id):
    return _detail(services.flow_get(user=request.user, flow_id=flow_id), request.user)


@router.patch("/flows/{int:flow_id}", response=FlowOut)
def flow_update(request: HttpRequest, flow_id: Id, payload: FlowPatch):
    flow = services.flow_get(user=request.user, flow_id=flow_id, permission="edit")
    flow = services.flow_update(flow=flow, changes=payload.model_dump(exclude_unset=True))
    return _detail(flow, request.user)


@router.delete("/flows/{int:flow_id}", response={204: None})
def flow_delete(request: HttpRequest, flow_id: Id):
    flow = services.flow_get(user=request.user, flow_id=flow_id, permission="edit")
    services.flow_delete(flow=flow)
    return Status(204, None)


@router.put("/flows/{int:flow_id}/draft", response=SaveOut)
def flow_save_draft(request: HttpRequest, flow_id: Id, payload: DraftIn):
    flow = services.flow_get(user=request.user, flow_id=flow_id, permission="edit")
    revision, errors = services.flow_save_draft(
        flow=flow, graph=payload.graph, revision=payload.revision
    )
    warnings = services.flow_warnings(graph=payload.graph, workspace_id=flow.workspace_id)
    return {
        "revision": revision,
        "valid": not errors,
        "errors": [e.as_dict() for e in errors],
        "warnings": [w.as_dict() for w in warnings],
    }


# Over these a graph is not checked at all: the answer is 413 with the limit errors.
OVER_LIMIT = frozenset({"graph.E015", "graph.E016", "graph.E018"})


@router.post("/flows/{int:flow_id}/validate", response=ValidateOut)
@not_a_write
def flow_validate(request: HttpRequest, flow_id: Id, payload: ValidateIn | None = None):
    """Validate the given graph (for live validation while editing), or the saved draft.

    The canvas calls this on every edit. It stays a sync view: under daphne, Django's ASGI handler
    gives each request its own thread for sync code (a ThreadSensitiveContext per request), so a
    validation in progress holds up no other request (tests/builder/test_api_validate.py shows it
    through the real handler); validation is linear, tens of milliseconds at the limits.
    Over a limit the graph is not checked: 413 with the limit errors.
    """
    flow = services.flow_get(user=request.user, flow_id=flow_id)
    graph = payload.graph if payload is not None and payload.graph is not None else flow.graph
    errors = services.flow_validate(graph=graph, workspace_id=flow.workspace_id, flow_id=flow.pk)
    if any(e.code in OVER_LIMIT for e in errors):
        raise TooLarge(
            "The graph is over a size limit (2,000 nodes, 5,000 edges, 5 MB); it was not checked.",
            code="too_large",
            errors=[e.as_dict() for e in errors],
        )
    warnings = services.flow_warnings(graph=graph, workspace_id=flow.workspace_id)
    return {
        "valid": not errors,
        "errors": [e.as_dict() for e in errors],
        "warnings": [w.as_dict() for w in warnings],
    }


@router.post("/flows/{int:flow_id}/duplicate", response={201: FlowOut})
def flow_duplicate(request: HttpRequest, flow_id: Id):
    flow = services.flow_get(user=request.user, flow_id=flow_id, permission="edit")
    return Status(201, _detail(services.flow_duplicate(flow=flow, user=request.user), request.user))


@router.get("/flows/{int:flow_id}/versions", response=list[VersionOut])
def version_list(request: HttpRequest, flow_id: Id, include_drafts: bool = False):
    flow = services.flow_get(user=request.user, flow_id=flow_id)
    versions = flow.versions.select_related("created_by")
    if include_drafts:
        versions = versions.order_by("-pk")  # newest first; draft snapshots have no number
    else:
        versions = versions.filter(is_draft_snapshot=False)
    return [_version(v) for v in versions]


@router.post("/flows/{int:flow_id}/versions", response={201: PublishOut})
def version_publish(request: HttpRequest, flow_id: Id, payload: PublishIn):
    """Publish the draft. Refused (422, `errors`) while it has problems; its `warnings` (what
    will fail when it runs) do not stop it and come back with the new version."""
    flow = services.flow_get(user=request.user, flow_id=flow_id, permission="edit")
    version = services.flow_publish(flow=flow, user=request.user, note=payload.note)
    warnings = services.flow_warnings(graph=version.graph, workspace_id=flow.workspace_id)
    return Status(201, {**_version(version), "warnings": [w.as_dict() for w in warnings]})


@router.get("/flows/{int:flow_id}/versions/{int:number}", response=VersionDetailOut)
def version_get(request: HttpRequest, flow_id: Id, number: Id):
    flow = services.flow_get(user=request.user, flow_id=flow_id)
    return _version(services.version_get(flow=flow, number=number), with_graph=True)


@router.post("/flows/{int:flow_id}/versions/{int:number}/restore", response=FlowOut)
def version_restore(
    request: HttpRequest, flow_id: Id, number: Id, payload: RestoreIn | None = None
):
    flow = services.flow_get(user=request.user, flow_id=flow_id, permission="edit")
    services.flow_restore(flow=flow, number=number, revision=payload.revision if payload else None)
    flow.refresh_from_db()
    return _detail(flow, request.user)


@router.get("/flows/{int:flow_id}/export")
def flow_export(request: HttpRequest, flow_id: Id, version: Id | None = None):
    flow = services.flow_get(user=request.user, flow_id=flow_id)
    document = services.flow_export(flow=flow, number=version)
    response = JsonResponse(document, json_dumps_params={"indent": 2})
    name = flow.name.lower()
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in name).strip("-") or "flow"
    suffix = f"-v{version}" if version else ""
    response["Content-Disposition"] = f'attachment; filename="{slug[:60]}{suffix}.json"'
    return response


@router.post("/flows/import", response={201: FlowOut})
def flow_import(request: HttpRequest, payload: ImportIn):
    flow = services.flow_import(
        user=request.user,
        workspace_id=payload.workspace,
        document=payload.document,
        name=payload.name,
    )
    return Status(201, _detail(flow, request.user))


class PortOut(Schema):
    name: str
    label: str
    required: bool


class NodeTypeOut(Schema):
    type: str
    label: str
    category: str
    help: str
    inputs: list[PortOut]
    outputs: list[PortOut]
    dynamic_outputs: bool
    error_port: PortOut | None = Field(
        None, description="The port a failed step's typed error leaves by, when the type can fail"
    )
    error_port_when: dict[str, Any] = Field(
        default_factory=dict, description="Config values under which the error port exists"
    )
    holds_region: bool = Field(
        False, description="Nodes may be placed inside it (their parent): it runs them per item"
    )
    config_schema: dict[str, Any]


@router.get("/node-types", response=list[NodeTypeOut], tags=["node types"])
def node_types(request: HttpRequest):
    return [
        {
            "type": t.type,
            "label": t.label,
            "category": t.category,
            "help": t.help(),
            "inputs": [vars(p) for p in t.inputs],
            "outputs": [vars(p) for p in t.outputs],
            "dynamic_outputs": t.dynamic_outputs,
            "error_port": vars(t.error_port) if t.error_port else None,
            "error_port_when": dict(t.error_port_when),
            "holds_region": t.holds_region,
            "config_schema": t.Config.model_json_schema(),
        }
        for t in NODE_TYPES.values()
    ]


class ToolOut(Schema):
    name: str
    description: str
    idempotent: bool | None = Field(
        description="True or false when it is fixed; null when it depends on the arguments"
    )
    arguments_schema: dict[str, Any]
    result_schema: dict[str, Any]


@router.get("/tools", response=list[ToolOut], tags=["node types"])
def tools(request: HttpRequest):
    """Every tool a Tool node or a prompt can call, with the JSON schemas of its arguments and of
    its result (what later nodes may read from `nodes.<key>.output`)."""
    return [
        {
            "name": tool.name,
            "description": tool.description,
            "idempotent": None if callable(tool.idempotent) else bool(tool.idempotent),
            "arguments_schema": tool.parameters,
            "result_schema": tool.result_schema,
        }
        for tool in tool_registry.all()
    ]


class StarterOut(Schema):
    slug: str
    name: str
    description: str
    node_count: int
    preview: list[list[dict[str, str]]]


@router.get("/starters", response=list[StarterOut], tags=["flows"])
def starters(request: HttpRequest):
    """The starter flows a new flow may begin from (`POST /api/flows` with `template`)."""
    return [
        {
            "slug": s.slug,
            "name": s.name,
            "description": s.description,
            "node_count": len(s.graph["nodes"]),
            "preview": s.preview(),
        }
        for s in STARTERS.values()
    ]


@router.get("/graph-error-codes", response=dict[str, str], tags=["node types"])
def graph_error_codes(request: HttpRequest):
    return ERROR_CODES


@router.get("/graph-warning-codes", response=dict[str, str], tags=["node types"])
def graph_warning_codes(request: HttpRequest):
    """The codes of what validation warns about without refusing the graph."""
    return WARNING_CODES

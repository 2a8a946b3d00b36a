"""Operations on flows: create, save the draft optimistically, publish, restore, import/export."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from config.domain import Conflict, Invalid, NotAllowed, NotFound, TooLarge
from config.prepared import prepared_first
from runs.engine.nodes import NODE_TYPES
from vault.services import credential_names, credential_values, model_catalogue
from workspaces.models import ROLE_PERMISSIONS
from workspaces.services import PermissionDenied, membership_for, require

from .graph import (
    MAX_GRAPH_BYTES,
    GraphError,
    empty_graph,
    graph_size,
    validate_graph,
)
from .graph.keys import keep_keys
from .knowledge_bases import knowledge_base_warnings
from .maps import map_errors
from .models import Flow, FlowVersion
from .starters import STARTERS
from .subflows import subflow_errors

EXPORT_FORMAT = "switchboard.flow"
EXPORT_FORMAT_VERSION = 1

# Values that look like credentials are redacted from exports, whatever field they sit in.
SECRET_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bsb_[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\b(?:ghp|gho|github_pat)_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-]{20,}"),
]
REDACTED = "[redacted]"
# Shorter values are too likely to occur as ordinary text to be redacted wherever they appear.
MIN_SECRET_LENGTH = 8

# Over these, a graph is refused rather than saved with errors.
UNSAVABLE = frozenset({"graph.E001", "graph.E015", "graph.E016", "graph.E017", "graph.E018"})


def _flow_with_role(user_id: int, flow_id: int):
    return (
        Flow.objects.visible_to_user_id(user_id)
        .select_related("workspace")
        .annotate(viewer_role=F("workspace__memberships__role"))
        .filter(pk=flow_id)
        .order_by("pk")[:1]
    )


def flow_get(*, user, flow_id: int, permission: str = "read") -> Flow:
    """Return a flow the user may act on: 404 outside their workspaces, 403 for a weaker role."""
    # The membership that makes the flow visible brings the user's role: one statement, where
    # a second read of that membership used to cost every run start its own.
    # Compiled once (config.prepared): every API call on a flow, every run start, reads it.
    try:
        flow_pk = int(flow_id)
    except (TypeError, ValueError):
        raise NotFound("Flow not found") from None
    flow = (
        prepared_first("flow_get", _flow_with_role, user.pk, flow_pk)
        if user.is_authenticated
        else None
    )
    if flow is None:
        raise NotFound("Flow not found")
    if permission not in ROLE_PERMISSIONS.get(flow.viewer_role, frozenset()):
        raise NotAllowed("Your role does not allow this.")
    return flow


def credentials_of(workspace_id: int) -> Callable[[], frozenset[str]]:
    """The workspace's credential names, read only if a graph's templates name one."""
    return functools.partial(credential_names, workspace_id)


def catalogue_of(workspace_id: int) -> Callable[[], list[Any]]:
    """The workspace's models, read only if a graph's prompt routes automatically."""
    return functools.partial(model_catalogue, workspace_id)


def flow_validate(*, graph: Any, workspace_id: int, flow_id: int | None = None) -> list[GraphError]:
    """Validate a graph as it would run in the workspace (credentials and models included, and
    the flows its sub-flow nodes call: `flow_id` is the flow the graph belongs to, for cycles)."""
    errors = validate_graph(
        graph, credentials=credentials_of(workspace_id), catalogue=catalogue_of(workspace_id)
    )
    if any(e.code in UNSAVABLE for e in errors):
        return errors
    return (
        errors
        + subflow_errors(graph=graph, workspace_id=workspace_id, flow_id=flow_id)
        + map_errors(graph=graph, workspace_id=workspace_id)
    )


def flow_warnings(*, graph: Any, workspace_id: int) -> list[GraphError]:
    """What would go wrong when the graph runs in the workspace as it is now, without making
    the graph invalid: saving, publishing and running go ahead (`graph.W…` codes)."""
    return knowledge_base_warnings(graph=graph, workspace_id=workspace_id)


def _savable(graph: Any, workspace_id: int, flow_id: int | None = None) -> list[GraphError]:
    """Return the graph's validation errors; raise Invalid or TooLarge if it is malformed or big.

    A draft may be incomplete (errors are returned for the canvas to show), but it must be a
    well-formed document within the size limits.
    """
    errors = flow_validate(graph=graph, workspace_id=workspace_id, flow_id=flow_id)
    unsavable = [e for e in errors if e.code in UNSAVABLE]
    if unsavable:
        raise Invalid(
            "The graph document is malformed or over a size limit.",
            errors=[e.as_dict() for e in unsavable],
            code="invalid_graph",
        )
    return errors


def flow_create(
    *,
    user,
    workspace_id: int,
    name: str,
    description: str = "",
    graph: Any = None,
    template: str | None = None,
    request_token: str = "",
) -> Flow:
    """Create a flow: empty, from a graph, or from a starter template.

    With a `request_token`, the same user submitting the same token again gets the flow the
    first submission created, not a second one (a double click on "Create flow").
    """
    if membership_for(user=user, workspace_id=workspace_id) is None:
        raise NotFound("Workspace not found")
    try:
        require(user=user, workspace_id=workspace_id, permission="edit")
    except PermissionDenied as exc:
        raise NotAllowed("Your role does not allow this.") from exc
    if template is not None:
        if graph is not None:
            raise Invalid("Give a graph or a template, not both.", code="invalid_request")
        starter = STARTERS.get(template)
        if starter is None:
            raise Invalid(f"There is no starter flow “{template[:60]}”.", code="unknown_template")
        graph = starter.fresh_graph()
    graph = graph if graph is not None else empty_graph()
    _savable(graph, workspace_id)
    name = name.strip()
    if not name:
        raise Invalid("A flow needs a name.", code="invalid_name")
    if request_token:
        existing = _created_with(user, workspace_id, request_token)
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            return Flow.objects.create(
                workspace_id=workspace_id,
                name=name,
                description=description,
                graph=graph,
                created_by=user,
                request_token=request_token,
            )
    except IntegrityError:
        # The same form submitted twice at once: the other request created it.
        existing = _created_with(user, workspace_id, request_token) if request_token else None
        if existing is None:
            raise
        return existing


def _created_with(user, workspace_id: int, request_token: str) -> Flow | None:
    return Flow.objects.filter(
        workspace_id=workspace_id, created_by=user, request_token=request_token
    ).first()


def flow_update(*, flow: Flow, changes: dict[str, Any]) -> Flow:
    if changes.get("name") is not None:
        name = changes["name"].strip()
        if not name:
            raise Invalid("A flow needs a name.", code="invalid_name")
        flow.name = name
    if changes.get("description") is not None:
        flow.description = changes["description"]
    flow.updated_at = timezone.now()
    flow.save(update_fields=["name", "description", "updated_at"])
    return flow


def flow_delete(*, flow: Flow) -> None:
    Flow.objects.filter(pk=flow.pk).update(deleted_at=timezone.now())


def flow_save_draft(*, flow: Flow, graph: Any, revision: int) -> tuple[int, list[GraphError]]:
    """Save the draft if `revision` is current; a stale save answers 409 and changes nothing.

    Returns the new revision and the graph's validation errors (a draft may be incomplete).
    """
    graph = keep_keys(graph, flow.graph)
    errors = _savable(graph, flow.workspace_id, flow.pk)
    updated = Flow.objects.filter(pk=flow.pk, revision=revision, deleted_at__isnull=True).update(
        graph=graph, revision=F("revision") + 1, updated_at=timezone.now()
    )
    if not updated:
        current = Flow.objects.values_list("revision", flat=True).get(pk=flow.pk)
        raise Conflict(
            "Someone saved this flow since you loaded it. Reload to see their changes, or save "
            "yours as a copy.",
            current_revision=current,
            code="stale_revision",
        )
    # Not read back from the row: by then it could include someone else's later save.
    return revision + 1, errors


def _next_number(flow: Flow) -> int:
    return (flow.versions.aggregate(n=Max("number"))["n"] or 0) + 1


@transaction.atomic
def flow_publish(*, flow: Flow, user, note: str = "") -> FlowVersion:
    """Freeze the draft as a new published version. Refused while the draft has errors; its
    warnings (`flow_warnings`) do not stop it."""
    flow = Flow.objects.select_for_update().get(pk=flow.pk)
    errors = flow_validate(graph=flow.graph, workspace_id=flow.workspace_id, flow_id=flow.pk)
    if errors:
        warnings = flow_warnings(graph=flow.graph, workspace_id=flow.workspace_id)
        raise Invalid(
            "Fix the flow's problems before publishing.",
            errors=[e.as_dict() for e in errors],
            warnings=[w.as_dict() for w in warnings],
            code="graph_invalid",
        )
    return FlowVersion.objects.create(
        flow=flow,
        number=_next_number(flow),
        graph=flow.graph,
        note=note,
        published=True,
        created_by=user,
    )


def flow_snapshot_draft(*, flow: Flow, user) -> FlowVersion:
    """Freeze the current draft so a run can point at exactly what it executed.

    Test runs mostly repeat an unchanged draft, so the draft as the caller read (and validated) it
    is compared with the latest version first, without a lock: starting runs must not queue
    behind one another on the flow's row (on SQLite, behind the whole database's write lock).
    Only a draft that differs takes the lock, checks again, and adds a snapshot.
    """
    latest = flow.versions.order_by("-pk").first()
    if latest is not None and latest.graph == flow.graph:
        return latest
    with transaction.atomic():
        flow = Flow.objects.select_for_update().get(pk=flow.pk)
        latest = flow.versions.order_by("-pk").first()
        if latest is not None and latest.graph == flow.graph:
            return latest
        return FlowVersion.objects.create(
            flow=flow,
            number=None,
            graph=flow.graph,
            note="Draft run",
            is_draft_snapshot=True,
            created_by=user,
        )


def version_get(*, flow: Flow, number: int) -> FlowVersion:
    version = flow.versions.filter(number=number).first()
    if version is None:
        raise NotFound("Version not found")
    return version


def flow_restore(*, flow: Flow, number: int, revision: int | None = None) -> int:
    """Copy a version's graph into the draft (optimistically, like any save)."""
    version = version_get(flow=flow, number=number)
    current, _ = flow_save_draft(
        flow=flow, graph=version.graph, revision=flow.revision if revision is None else revision
    )
    return current


def _configured_secrets() -> list[str]:
    """Return the provider keys this server holds: they never leave it, whatever they look like."""
    names = {p.get("api_key_env") for p in settings.SWITCHBOARD_PROVIDERS.values()}
    values = {os.environ.get(name, "") for name in names if name}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _redact_text(text: str, secrets: list[str]) -> tuple[str, int]:
    count = 0
    for secret in secrets:
        count += text.count(secret)
        text = text.replace(secret, REDACTED)
    for pattern in SECRET_PATTERNS:
        text, n = pattern.subn(REDACTED, text)
        count += n
    return text, count


def _redact(value: Any, secrets: list[str]) -> tuple[Any, int]:
    """Return `value` with anything that looks like a credential replaced, and how many."""
    if isinstance(value, str):
        return _redact_text(value, secrets)
    if isinstance(value, dict):
        total = 0
        out = {}
        for key, item in value.items():
            new_key, n = _redact_text(key, secrets) if isinstance(key, str) else (key, 0)
            out[new_key], m = _redact(item, secrets)
            total += n + m
        return out, total
    if isinstance(value, list):
        items = [_redact(item, secrets) for item in value]
        return [item for item, _ in items], sum(n for _, n in items)
    return value, 0


def flow_export(*, flow: Flow, number: int | None = None) -> dict[str, Any]:
    """Export a flow (its draft, or one version) as a portable document without secrets."""
    graph = flow.graph if number is None else version_get(flow=flow, number=number).graph
    # The workspace's credential values too: one pasted into a node as text goes out hidden.
    secrets = sorted(
        {*_configured_secrets(), *credential_values(flow.workspace_id).values()},
        key=len,
        reverse=True,
    )
    content, redactions = _redact(
        {"name": flow.name, "description": flow.description, "graph": graph}, secrets
    )
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "name": content["name"],
        "description": content["description"],
        "version": number,
        "exported_at": timezone.now().isoformat(),
        "redactions": redactions,
        "graph": content["graph"],
    }


def flow_import(*, user, workspace_id: int, document: Any, name: str | None = None) -> Flow:
    """Create a new flow from an exported document. Validates it; never executes anything."""
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise Invalid("This is not a Switchboard flow export.", code="invalid_import")
    version = document.get("format_version")
    if type(version) is not int or version != EXPORT_FORMAT_VERSION:
        raise Invalid(
            f"Unsupported format_version; this server reads {EXPORT_FORMAT_VERSION}.",
            code="unsupported_format_version",
        )
    graph = document.get("graph")
    if not isinstance(graph, dict):
        raise Invalid("The export has no graph object.", code="invalid_import")
    if graph_size(graph) > MAX_GRAPH_BYTES:
        raise TooLarge("The graph is larger than 5 MB.", code="too_large")
    title = name or document.get("name") or "Imported flow"
    description = document.get("description") or ""
    if not isinstance(title, str) or not isinstance(description, str):
        raise Invalid("name and description must be text.", code="invalid_import")
    return flow_create(
        user=user,
        workspace_id=workspace_id,
        name=title.strip()[:200] or "Imported flow",
        description=description[:5000],
        graph=graph,
    )


def flow_duplicate(*, flow: Flow, user) -> Flow:
    return flow_create(
        user=user,
        workspace_id=flow.workspace_id,
        name=f"{flow.name} (copy)"[:200],
        description=flow.description,
        graph=flow.graph,
    )


def _input_schema(graph: Any) -> dict[str, Any]:
    """The run inputs a graph asks for: its input node's schema (an empty object when none)."""
    for node in graph.get("nodes", []) if isinstance(graph, dict) else []:
        node_type = NODE_TYPES.get(str(node.get("type"))) if isinstance(node, dict) else None
        if node_type is not None and node_type.provides_inputs:
            schema = (node.get("config") or {}).get("schema")
            if isinstance(schema, dict):
                return schema
    return {"type": "object", "properties": {}}


def callable_flows(*, user, workspace_id: int, exclude: int | None = None) -> list[dict[str, Any]]:
    """Return the published flows of a workspace a sub-flow node may call, newest version first,
    each with its version numbers and the input fields of its latest published version."""
    if membership_for(user=user, workspace_id=workspace_id) is None:
        raise NotFound("Workspace not found")
    flows = Flow.objects.live().filter(workspace_id=workspace_id).exclude(pk=exclude or 0)
    versions = (
        FlowVersion.objects.filter(flow__in=flows, published=True)
        .select_related("flow")
        .order_by("flow__name", "flow_id", "-number")
    )
    found: dict[int, dict[str, Any]] = {}
    for version in versions[:2000]:
        entry = found.get(version.flow_id)
        if entry is None:
            flow = version.flow
            entry = found[version.flow_id] = {
                "id": flow.pk,
                "name": flow.name,
                "description": flow.description,
                "versions": [],
                "input_schema": _input_schema(version.graph),
            }
        entry["versions"].append(version.number)
    return list(found.values())

"""Starting and cancelling runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from builder.models import Flow, FlowVersion
from builder.services import flow_snapshot_draft, flow_validate
from config.domain import Invalid, NotFound
from runs.engine.nodes import NODE_TYPES
from runs.engine.schemas import SchemaCheckFailed, validation_errors
from runs.models import Approval, ApprovalStatus, Run, RunStatus, Step, StepStatus, Trigger
from workspaces.models import Workspace

from . import statements
from .lifecycle import RunChange, run_changing
from .subflows import children_to_cancel

DEFAULT_BUDGETS = {"max_steps": 200, "max_seconds": 3600, "max_tokens": None, "max_cost": None}
BUDGET_LIMITS = {"max_steps": 10_000, "max_seconds": 86_400, "max_tokens": 10**9, "max_cost": 10**4}


def _input_config(graph: dict[str, Any]) -> dict[str, Any]:
    """The configuration of the node that holds the run's inputs ({} when there is none)."""
    for node in graph.get("nodes", []):
        node_type = NODE_TYPES.get(node.get("type"))
        if node_type is not None and node_type.provides_inputs:
            return node.get("config") or {}
    return {}


def input_schema(graph: dict[str, Any]) -> dict[str, Any]:
    return _input_config(graph).get("schema") or {"type": "object"}


def sample_inputs(graph: dict[str, Any]) -> dict[str, Any]:
    return dict(_input_config(graph).get("sample") or {})


def inputs_errors(graph: dict[str, Any], inputs: Any) -> list[str]:
    """Check run inputs against the flow's input schema; return readable problems."""
    if not isinstance(inputs, dict):
        return ["inputs must be a JSON object"]
    try:
        errors = validation_errors(input_schema(graph), inputs)
    except SchemaCheckFailed as exc:
        return [f"The inputs could not be checked: {exc}."]
    problems = []
    for error in errors:
        where = ".".join(str(p) for p in error.absolute_path)
        problems.append(f"{where}: {error.message}" if where else error.message)
    return problems


def region_problem(graph: dict[str, Any], region: str) -> str:
    """Why this version has no region `region` to run ("" when it has)."""
    for node in graph.get("nodes", []):
        node_type = NODE_TYPES.get(node.get("type"))
        holds = node.get("id") == region and node_type is not None and node_type.holds_region
        if holds and any(n.get("parent") == region for n in graph.get("nodes", [])):
            return ""
    return f'This version of the flow has no map "{region}" with steps inside it.'


def workspace_budgets(workspace: Workspace) -> dict[str, Any]:
    """The budgets a workspace's owners set for runs that do not bring their own."""
    budgets: dict[str, Any] = {}
    if workspace.default_max_cost is not None:
        budgets["max_cost"] = workspace.default_max_cost
    if workspace.default_max_tokens is not None:
        budgets["max_tokens"] = workspace.default_max_tokens
    return budgets


def budgets_clean(
    budgets: dict[str, Any] | None, defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The run's budgets: the server's, then the workspace's `defaults`, then the run's own
    (a key the run gives, even as null for "no limit", wins)."""
    merged = {**DEFAULT_BUDGETS, **(defaults or {})}
    for key, value in (budgets or {}).items():
        if key not in DEFAULT_BUDGETS:
            raise Invalid(f'Unknown budget "{key}".', code="invalid_budget")
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value <= 0
            or value > BUDGET_LIMITS[key]
        ):
            raise Invalid(
                f"{key} must be a positive number up to {BUDGET_LIMITS[key]}.",
                code="invalid_budget",
            )
        merged[key] = value
    return merged


def resolve_version(
    *, flow: Flow, user, use_draft: bool, version: int | FlowVersion | None
) -> FlowVersion:
    if isinstance(version, FlowVersion):
        return version  # e.g. a re-run of a draft snapshot, which has no number
    if version is not None:
        found = flow.versions.filter(number=version).first()
        if found is None:
            raise NotFound("Version not found", code="not_found")
        return found
    if not use_draft:
        published = flow.published_version
        if published is not None:
            return published
        if not flow.versions.exists() and not use_draft:
            # A flow never published runs its draft, so a first test run needs no ceremony.
            use_draft = True
    errors = flow_validate(graph=flow.graph, workspace_id=flow.workspace_id, flow_id=flow.pk)
    if errors:
        raise Invalid(
            "The flow has problems to fix before it can run.",
            errors=[e.as_dict() for e in errors],
            code="graph_invalid",
        )
    return flow_snapshot_draft(flow=flow, user=user)


def run_start(
    *,
    user,
    flow: Flow,
    inputs: dict[str, Any] | None,
    use_draft: bool = False,
    version: int | FlowVersion | None = None,
    trigger: str = Trigger.UI,
    budgets: dict[str, Any] | None = None,
    parent_run: Run | None = None,
    from_node: str = "",
    reproduce: bool = False,
    default_model: str | None = None,
    parent_step_id: int | None = None,
    depth: int = 0,
    region: str = "",
) -> Run:
    """Create a queued run of a flow version. The caller kicks it (`runs.dispatch.kick`).

    Budgets the caller does not give, and the default model (unless `default_model` is given,
    as a re-run does), come from the workspace's defaults. With `region` (a map node's id) the
    run executes only that map's region, for one item: its inputs are the item's, which the
    map made, not the flow's input form.
    """
    flow_version = resolve_version(flow=flow, user=user, use_draft=use_draft, version=version)
    if region and (problem := region_problem(flow_version.graph, region)):
        raise Invalid(problem, code="unknown_region")
    if inputs is None:
        inputs = {} if region else sample_inputs(flow_version.graph)
    problems = [] if region else inputs_errors(flow_version.graph, inputs)
    if problems:
        raise Invalid(
            "The inputs do not match the flow's input form.", errors=problems, code="invalid_inputs"
        )
    # The callers load the flow with its workspace (`flow_get`), so this costs no statement.
    workspace = flow.workspace
    if default_model is None:
        default_model = workspace.default_model
    with transaction.atomic():
        # The row without Model.__init__ and the ORM's INSERT building (a fifth of a start).
        run = statements.new(
            Run,
            flow_id=flow.pk,
            version_id=flow_version.pk,
            workspace_id=flow.workspace_id,
            inputs=inputs,
            budgets=budgets_clean(budgets, workspace_budgets(workspace)),
            default_model=default_model,
            trigger=trigger,
            created_by_id=user.pk if user is not None else None,
            parent_run_id=parent_run.pk if parent_run is not None else None,
            from_node=from_node,
            reproduce=reproduce,
            parent_step_id=parent_step_id,
            depth=depth,
            region=region,
            # Inserted with its run.queued event's seq, so the event needs no UPDATE of the row.
            last_seq=1,
        )
        statements.insert([run], returning=True)
        # What Run(flow=..., version=...) would have cached: callers read them without a query.
        Run.flow.field.set_cached_value(run, flow)
        Run.version.field.set_cached_value(run, flow_version)
        Run.workspace.field.set_cached_value(run, workspace)
        if user is not None:
            Run.created_by.field.set_cached_value(run, user)
        if parent_run is not None:
            Run.parent_run.field.set_cached_value(run, parent_run)
        run.last_seq = 0
        change = RunChange(run)
        change.event(
            "run.queued",
            data={
                "flow_id": flow.pk,
                "version": flow_version.number,
                "trigger": trigger,
                "inputs": inputs,
                **({"region": region} if region else {}),
            },
        )
        change.fields.discard("last_seq")
        change.save()
    return run


def run_cancel(*, run: Run, user=None) -> Run:
    """Cancel a run now: scheduling stops and any result still in flight is discarded.

    The runs of its sub-flow steps are cancelled too. The returned run's `kicks` lists the runs
    to kick: the parent whose sub-flow step this run's cancel fails.
    """
    who = user.get_username() if user is not None else "system"
    with run_changing(run.pk) as change:
        if change is None or change.run.is_finished:
            cancelled = change.run if change is not None else run
            cancelled.kicks = []
            return cancelled
        now = timezone.now()
        change.set(cancel_requested=True)
        change.transition(
            RunStatus.CANCELLED,
            data={"by": who},
            finished_at=now,
            error_code="cancelled",
            error_message=f"Cancelled by {who}.",
        )
        Step.objects.filter(
            run_id=run.pk,
            status__in=[
                StepStatus.QUEUED,
                StepStatus.RUNNING,
                StepStatus.WAITING,
                StepStatus.NEEDS_ATTENTION,
            ],
        ).update(status=StepStatus.CANCELLED, finished_at=now)
        Approval.objects.filter(run_id=run.pk, status=ApprovalStatus.PENDING).update(
            status=ApprovalStatus.CANCELLED, decided_at=now
        )
    # Children after the parent's commit: locks go child before parent everywhere else.
    for child in children_to_cancel(run.pk):
        run_cancel(run=child, user=user)
    change.run.kicks = change.kicks
    return change.run


def default_model() -> str:
    return settings.SWITCHBOARD_DEFAULT_MODEL

"""The approvals inbox: what waits on me, what was decided, and deciding from the page.

Only the people an approval is assigned to see it here; for anyone else its URL is a 404. The
decision goes through `approval_decide` (permission-checked, idempotent, audited), like the API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from config.domain import DomainError, NotAllowed
from config.errors import http_status
from runs import dispatch
from runs.engine.names import readable_names
from runs.engine.nodes.approval import payload_key
from runs.models import Approval, ApprovalDecision, ApprovalKind, ApprovalStatus
from runs.services.approvals import (
    MAX_COMMENT_CHARS,
    approval_can_decide,
    approval_decide,
    approvals_for,
)
from runs.services.fallbacks import fallback_decide
from workspaces.models import ROLE_PERMISSIONS, Membership

from .diffs import line_diff, pretty_value
from .fallback_pane import FallbackForm, fallback_context, parse_fallback
from .params import db_id

PAGE_SIZE = 25
APPROVE_ROLES = [role for role, allowed in ROLE_PERMISSIONS.items() if "approve" in allowed]
CHANGED_EVENT = "approvals-changed"


def approvals_waiting_on(user) -> QuerySet[Approval]:
    """Pending approvals the user can act on now: assigned to them, their role may approve,
    and they have not decided yet (a quorum may still wait on others)."""
    approver_in = Membership.objects.filter(user=user, role__in=APPROVE_ROLES)
    return (
        approvals_for(user)
        .filter(status=ApprovalStatus.PENDING, workspace_id__in=approver_in.values("workspace_id"))
        .exclude(decisions__user=user)
    )


def _listed(user, show: str) -> QuerySet[Approval]:
    approvals = approvals_for(user).select_related("run", "run__flow")
    if show == "decided":
        approvals = approvals.exclude(status=ApprovalStatus.PENDING).order_by("-decided_at", "-id")
    else:
        approvals = approvals.filter(status=ApprovalStatus.PENDING).order_by("-created_at", "-id")
    return approvals.annotate(
        approved_count=Count("decisions", filter=Q(decisions__decision="approved"), distinct=True),
        mine=Count("decisions", filter=Q(decisions__user=user), distinct=True),
    )


def _assigned_or_404(user, approval_id: int) -> Approval:
    approval = (
        approvals_for(user)
        .select_related("run", "run__flow", "run__version", "workspace")
        .filter(pk=db_id(approval_id))
        .first()
    )
    if approval is None:
        raise Http404("Approval not found")
    return approval


def _show(request: HttpRequest) -> str:
    return "decided" if request.GET.get("show") == "decided" else "pending"


def _page(request: HttpRequest, approvals: QuerySet[Approval]) -> Page:
    return Paginator(approvals, PAGE_SIZE).get_page(request.GET.get("page"))


def _list_context(request: HttpRequest, show: str) -> dict[str, Any]:
    user = request.user
    return {
        "show": show,
        "page": _page(request, _listed(user, show)),
        "pending_count": approvals_for(user).filter(status=ApprovalStatus.PENDING).count(),
        "waiting_count": approvals_waiting_on(user).count(),
    }


# ---- the detail pane ---------------------------------------------------------------------------


@dataclass
class ReviewValue:
    """One value the approver reviews (and may edit): a key of the approval's payload."""

    index: int
    key: str
    label: str
    kind: str  # "text" or "json"
    display: str
    editable_text: str
    is_text: bool
    error: str = ""

    @property
    def rows(self) -> int:
        """Enough textarea rows to edit the value without scrolling much."""
        lines = self.editable_text.count("\n") + 1 + len(self.editable_text) // 90
        return max(4, min(lines + 1, 18))


@dataclass
class DecisionForm:
    decision: str = ""
    comment: str = ""
    payload: dict[str, Any] | None = None
    edited: dict[int, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def review_payload(approval: Approval) -> dict[str, Any]:
    payload = (
        approval.payload if isinstance(approval.payload, dict) else {"value": approval.payload}
    )
    return _in_review_order(approval, payload)


def _in_review_order(approval: Approval, payload: dict[str, Any]) -> dict[str, Any]:
    """Order values as the approval node lists them (PostgreSQL's jsonb keeps no key order)."""
    order: list[str] = []
    nodes = [n for n in (approval.run.version.graph or {}).get("nodes", []) if isinstance(n, dict)]
    names = readable_names((n.get("id", ""), n.get("key", ""), n.get("label", "")) for n in nodes)
    for node in nodes:
        if node.get("id") == approval.node_id:
            show = (node.get("config") or {}).get("show", [])
            order = [payload_key(path, names) for path in show]
    rank = {key: i for i, key in enumerate(order)}
    return dict(sorted(payload.items(), key=lambda item: rank.get(item[0], len(rank))))


def _node_labels(approval: Approval) -> dict[str, str]:
    """Each node's label by the names a shown value may have: its id and its readable name."""
    nodes = [n for n in (approval.run.version.graph or {}).get("nodes", []) if isinstance(n, dict)]
    names = readable_names((n.get("id", ""), n.get("key", ""), n.get("label", "")) for n in nodes)
    labels = {}
    for n in nodes:
        label = n.get("label") or n.get("id")
        labels[n.get("id")] = label
        labels.setdefault(names.get(n.get("id", ""), ""), label)
    return labels


def _final_payload(approval: Approval) -> dict[str, Any] | None:
    """The approver's edited values an approved approval let through, if any."""
    if approval.status != ApprovalStatus.APPROVED:
        return None
    edit = approval.decisions.exclude(edited_payload=None).order_by("-created_at").first()
    if edit is None or not isinstance(edit.edited_payload, dict):
        return None
    return _in_review_order(approval, edit.edited_payload)


def _review_values(approval: Approval, form: DecisionForm | None = None) -> list[ReviewValue]:
    labels = _node_labels(approval)
    payload = _final_payload(approval) or review_payload(approval)
    values = []
    for index, (key, value) in enumerate(payload.items()):
        kind, display = pretty_value(value)
        is_text = isinstance(value, str)
        editable = value if is_text else json.dumps(value, indent=2, ensure_ascii=False)
        if form is not None and index in form.edited:
            editable = form.edited[index]
        values.append(
            ReviewValue(
                index=index,
                key=str(key),
                label=labels.get(key, str(key)),
                kind=kind,
                display=display,
                editable_text=editable,
                is_text=is_text,
                error=(form.errors.get(f"value-{index}", "") if form else ""),
            )
        )
    return values


def _decision_rows(approval: Approval) -> list[dict[str, Any]]:
    original = review_payload(approval)
    labels = _node_labels(approval)
    rows = []
    for decision in approval.decisions.select_related("user").order_by("created_at", "id"):
        edits = []
        if isinstance(decision.edited_payload, dict):
            for key, value in decision.edited_payload.items():
                if original.get(key) != value:
                    edits.append(
                        {
                            "key": key,
                            "label": labels.get(key, key),
                            "diff": line_diff(original.get(key), value),
                        }
                    )
        rows.append({"decision": decision, "edits": edits})
    return rows


def _cannot_decide_reason(approval: Approval, user, mine: ApprovalDecision | None) -> str:
    """Why an assignee sees no decision buttons on a pending approval ("" once it is settled)."""
    if approval.status != ApprovalStatus.PENDING:
        return ""
    if mine is not None:
        approved = approval.decisions.filter(decision="approved").count()
        missing = max(approval.quorum - approved, 0)
        more = (
            f" It still needs {missing} more approval{'s' if missing != 1 else ''}."
            if missing
            else ""
        )
        return f"You {mine.decision} this.{more}"
    membership = Membership.objects.filter(user=user, workspace_id=approval.workspace_id).first()
    if membership is None or not membership.can("approve"):
        role = membership.get_role_display().lower() if membership else "member"
        return f"You can review this, but as a {role} you cannot decide approvals here."
    return ""


def _shared_context(approval: Approval) -> dict[str, Any]:
    return {
        "approval": approval,
        "run": approval.run,
        "flow": approval.run.flow,
        "assignees": sorted(u.get_username() for u in approval.users.all()),
        "groups": sorted(g.name for g in approval.groups.all()),
        "max_comment": MAX_COMMENT_CHARS,
    }


def _detail_context(
    approval: Approval,
    user,
    *,
    form: Any = None,
    error: str = "",
    notice: str = "",
    editing: bool = False,
) -> dict[str, Any]:
    if approval.kind == ApprovalKind.FALLBACK:
        return fallback_context(
            approval, user, form=form, error=error, notice=notice, base=_shared_context(approval)
        )
    decisions = _decision_rows(approval)
    mine = next((row["decision"] for row in decisions if row["decision"].user_id == user.pk), None)
    approved = sum(1 for row in decisions if row["decision"].decision == "approved")
    can_decide = approval_can_decide(approval, user)
    return {
        "approval": approval,
        "run": approval.run,
        "flow": approval.run.flow,
        "values": _review_values(approval, form),
        "values_edited": _final_payload(approval) is not None,
        "decisions": decisions,
        "approved_count": approved,
        "can_decide": can_decide,
        "can_edit": can_decide and approval.allow_edit,
        "editing": can_decide and approval.allow_edit and (editing or bool(form and form.edited)),
        "cannot_reason": "" if can_decide else _cannot_decide_reason(approval, user, mine),
        "assignees": sorted(u.get_username() for u in approval.users.all()),
        "groups": sorted(g.name for g in approval.groups.all()),
        "form": form or DecisionForm(),
        "error": error,
        "notice": notice,
        "max_comment": MAX_COMMENT_CHARS,
        "error_path": None,
    }


# ---- pages -------------------------------------------------------------------------------------


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """The inbox page; with htmx targeting the list, just the list (live refresh)."""
    show = _show(request)
    context = _list_context(request, show)
    if request.htmx and request.htmx.target == "approval-list":
        return render(request, "runs/_approval_list.html", context)
    first = next(iter(context["page"].object_list), None)
    if first is not None:
        approval = _assigned_or_404(request.user, first.pk)
        context.update(_detail_context(approval, request.user))
    return render(request, "runs/approvals.html", {**context, "nav": "approvals"})


@login_required
@require_GET
def approval_detail(request: HttpRequest, approval_id: int) -> HttpResponse:
    approval = _assigned_or_404(request.user, approval_id)
    context = _detail_context(approval, request.user, editing=request.GET.get("edit") == "1")
    if request.htmx and request.htmx.target == "approval-detail":
        return render(request, "runs/_approval_detail.html", context)
    show = "pending" if approval.status == ApprovalStatus.PENDING else "decided"
    context.update(_list_context(request, show))
    return render(request, "runs/approvals.html", {**context, "nav": "approvals"})


@login_required
@require_GET
def approvals_badge(request: HttpRequest) -> HttpResponse:
    return render(
        request, "runs/_approvals_badge.html", {"count": approvals_waiting_on(request.user).count()}
    )


def _parse_decision(request: HttpRequest, approval: Approval) -> DecisionForm:
    form = DecisionForm(
        decision=request.POST.get("decision", ""),
        comment=request.POST.get("comment", "").replace("\r\n", "\n").strip(),
    )
    if form.decision not in ("approved", "rejected"):
        form.errors["decision"] = "Choose Approve or Reject."
    if len(form.comment) > MAX_COMMENT_CHARS:
        form.errors["comment"] = f"Keep the comment under {MAX_COMMENT_CHARS:,} characters."
    if form.decision == "rejected" and not form.comment:
        form.errors["comment"] = "Say why you reject it, so the flow's owner knows what to fix."
    payload = review_payload(approval)
    for index in range(len(payload)):
        raw = request.POST.get(f"value-{index}")
        if raw is not None:
            form.edited[index] = raw.replace("\r\n", "\n")
    if form.edited and approval.allow_edit and form.decision == "approved":
        form.payload = _edited_payload(payload, form)
    return form


def _edited_payload(payload: dict[str, Any], form: DecisionForm) -> dict[str, Any] | None:
    """The payload with the approver's edits, or None when nothing changed."""
    edited = dict(payload)
    for index, key in enumerate(payload):
        if index not in form.edited:
            continue
        raw = form.edited[index]
        if isinstance(payload[key], str):
            edited[key] = raw
            continue
        try:
            edited[key] = json.loads(raw)
        except ValueError as exc:
            form.errors[f"value-{index}"] = (
                f"This is not valid JSON ({exc.msg} on line {exc.lineno}). "
                "Fix it, or cancel the edit."
            )
    return edited if edited != payload else None


def _plain_error(exc: DomainError, approval: Approval, user) -> str:
    """Say what went wrong in the approver's words."""
    if exc.code == "already_decided":
        approval.refresh_from_db()
        last = approval.decisions.select_related("user").order_by("-created_at").first()
        if last is not None:
            when = f"{last.created_at:%b} {last.created_at.day} at {last.created_at:%H:%M} UTC"
            who = "you" if last.user_id == user.pk else last.user.get_username()
            return (
                f"Your decision was not recorded: {who} already {last.decision} this on {when}, "
                "and decisions cannot be changed."
            )
        return f"Your decision was not recorded: {exc.detail}"
    if exc.code == "run_finished":
        return (
            "Your decision was not recorded: the run ended before anyone decided, so this "
            "approval was closed."
        )
    if isinstance(exc, NotAllowed):
        return f"You cannot decide this approval. {exc.detail}"
    return str(exc.detail)


@login_required
@require_POST
def approval_decide_view(request: HttpRequest, approval_id: int) -> HttpResponse:
    """Approve or reject from the page. htmx swaps the detail pane; without it, a redirect."""
    approval = _assigned_or_404(request.user, approval_id)
    form = _parse_decision(request, approval)
    if form.errors:
        return _detail_response(request, approval, form=form, status=422)
    try:
        decided = approval_decide(
            user=request.user,
            approval_id=approval.pk,
            decision=form.decision,
            comment=form.comment,
            payload=form.payload,
        )
        dispatch.kick(decided.resume)
        changed = decided.changed
    except DomainError as exc:
        error = _plain_error(exc, approval, request.user)
        approval = _assigned_or_404(request.user, approval.pk)
        response = _detail_response(request, approval, error=error, status=http_status(exc))
        return trigger_client_event(response, CHANGED_EVENT)
    notice = _notice(form, changed)
    if not request.htmx:
        messages.success(request, notice)
        return redirect(reverse("runs_pages:approval_detail", args=[approval.pk]))
    approval = _assigned_or_404(request.user, approval.pk)
    response = _detail_response(request, approval, notice=notice)
    return trigger_client_event(response, CHANGED_EVENT, {"approval_id": approval.pk})


def _notice(form: DecisionForm, changed: bool) -> str:
    if not changed:
        return "Nothing changed: that decision was already recorded."
    if form.decision == "rejected":
        return "Rejected. The flow takes its “rejected” path."
    if form.payload is not None:
        return "Approved with your edits. The run continues with them."
    return "Approved. The run continues."


def _detail_response(
    request: HttpRequest,
    approval: Approval,
    *,
    form: Any = None,
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> HttpResponse:
    context = _detail_context(approval, request.user, form=form, error=error, notice=notice)
    if request.htmx:
        return render(request, "runs/_approval_detail.html", context, status=status)
    show = "pending" if approval.status == ApprovalStatus.PENDING else "decided"
    context.update(_list_context(request, show))
    return render(request, "runs/approvals.html", {**context, "nav": "approvals"}, status=status)


@login_required
@require_POST
def approval_fallback_view(request: HttpRequest, approval_id: int) -> HttpResponse:
    """Settle a failed step from the page: typed output, retry (another model), or fail."""
    approval = _assigned_or_404(request.user, approval_id)
    if approval.kind != ApprovalKind.FALLBACK:
        raise Http404("Not a failed step")
    form: FallbackForm = parse_fallback(request)
    if form.errors:
        return _detail_response(request, approval, form=form, status=422)
    try:
        decided = fallback_decide(
            user=request.user,
            approval_id=approval.pk,
            action=form.action,
            output=form.output,
            model=form.model,
            comment=form.comment,
        )
        dispatch.kick(decided.resume, redispatch=True)
    except DomainError as exc:
        if exc.code in ("invalid_output", "invalid_model", "output_missing", "too_large"):
            form.errors["output" if exc.code != "invalid_model" else "model"] = str(exc.detail)
            form.problems = list(exc.extra.get("errors") or [])
            return _detail_response(request, approval, form=form, status=http_status(exc))
        if exc.code == "already_decided":
            error = f"Your decision was not recorded: {exc.detail}"
        else:
            error = _plain_error(exc, approval, request.user)
        approval = _assigned_or_404(request.user, approval.pk)
        response = _detail_response(request, approval, error=error, status=http_status(exc))
        return trigger_client_event(response, CHANGED_EVENT)
    notice = {
        "output": "Output saved. The run continues with it.",
        "retry": "Retrying the step. If it fails again, it comes back here.",
        "fail": "Marked as failed.",
    }[form.action]
    if not decided.changed:
        notice = "Nothing changed: that decision was already recorded."
    if not request.htmx:
        messages.success(request, notice)
        return redirect(reverse("runs_pages:approval_detail", args=[approval.pk]))
    approval = _assigned_or_404(request.user, approval.pk)
    response = _detail_response(request, approval, notice=notice)
    return trigger_client_event(response, CHANGED_EVENT, {"approval_id": approval.pk})

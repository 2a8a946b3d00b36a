"""Workspace settings pages. Thin: parse the form, call a service, render or redirect.

Every page is scoped to a workspace the user belongs to (another workspace's id is a 404). Anyone
in the workspace can see members and defaults; only owners change them and see the audit log.
Other apps' settings pages (the vault's credentials and providers) use `settings_context` to get
the same layout.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.domain import DomainError, Invalid
from config.errors import http_status

from . import services
from .models import AuditEvent, Membership, Role

SECTIONS = {"members", "tokens", "defaults", "audit", "credentials", "providers"}
MAX_DB_ID = 2**63 - 1


def settings_membership(request: HttpRequest, workspace_id: int) -> Membership:
    """The signed-in user's membership of the workspace, or 404 (not a member, or no such id)."""
    if not 0 < workspace_id <= MAX_DB_ID:
        raise Http404("Workspace not found")
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=request.user, workspace_id=workspace_id)
        .first()
    )
    if membership is None:
        raise Http404("Workspace not found")
    return membership


def settings_context(
    request: HttpRequest, membership: Membership, section: str, **extra: Any
) -> dict[str, Any]:
    """What templates/workspaces/settings/base.html needs, plus the page's own values."""
    memberships = list(
        Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .order_by("workspace__name", "workspace_id")
    )
    return {
        "nav": "settings",
        "workspace": membership.workspace,
        "membership": membership,
        "membership_can_manage": membership.can("manage"),
        "settings_memberships": memberships,
        "settings_section": section,
        **extra,
    }


def _section_url(section: str, workspace_id: int) -> str:
    names = {"credentials": "vault:credentials", "providers": "vault:providers"}
    try:
        return reverse(names.get(section, f"settings:{section}"), args=[workspace_id])
    except NoReverseMatch:
        return reverse("settings:members", args=[workspace_id])


@login_required
@require_GET
def settings_home(request: HttpRequest) -> HttpResponse:
    """Settings of the chosen workspace (`?workspace=`), else of the first the user is in."""
    memberships = Membership.objects.filter(user=request.user).order_by(
        "workspace__name", "workspace_id"
    )
    wanted = request.GET.get("workspace", "")
    chosen = None
    if wanted.isascii() and wanted.isdigit() and len(wanted) <= 19:
        chosen = memberships.filter(workspace_id=int(wanted)).first()
    chosen = chosen or memberships.first()
    if chosen is None:
        return render(request, "workspaces/settings/no_workspace.html", {"nav": "settings"})
    section = request.GET.get("section", "members")
    return redirect(
        _section_url(section if section in SECTIONS else "members", chosen.workspace_id)
    )


@login_required
@require_GET
def settings_workspace(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    return redirect("settings:members", membership.workspace_id)


# ---- shared -------------------------------------------------------------------------------------


def _fail(
    request: HttpRequest, exc: DomainError, template: str, context: dict[str, Any]
) -> HttpResponse:
    """Re-render the page with the service's message, answering the error's status."""
    return render(request, template, {**context, "error": str(exc.detail)}, status=http_status(exc))


def _back(request: HttpRequest, name: str, workspace_id: int, notice: str) -> HttpResponse:
    messages.success(request, notice)
    return redirect(name, workspace_id)


def _db_id(value: int) -> int:
    if not 0 < value <= MAX_DB_ID:
        raise Http404("Not found")
    return value


# ---- members ------------------------------------------------------------------------------------

MEMBERS_TEMPLATE = "workspaces/settings/members.html"
ROLE_HELP = {
    Role.OWNER: "Everything, including members, tokens, credentials and defaults.",
    Role.EDITOR: "Builds, edits and runs flows; approves when assigned.",
    Role.APPROVER: "Reads flows and runs; approves when assigned.",
    Role.VIEWER: "Reads flows and runs.",
}


def _members_context(request: HttpRequest, membership: Membership, **extra: Any) -> dict:
    members = (
        Membership.objects.filter(workspace_id=membership.workspace_id)
        .select_related("user")
        .order_by("user__username")
    )
    owners = sum(1 for m in members if m.role == Role.OWNER)
    return settings_context(
        request,
        membership,
        "members",
        members=members,
        owner_count=owners,
        roles=[(role.value, role.label, ROLE_HELP[role]) for role in Role],
        **{"invite": {"who": "", "role": Role.EDITOR.value}, **extra},
    )


@login_required
@require_GET
def members(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    return render(request, MEMBERS_TEMPLATE, _members_context(request, membership))


@login_required
@require_POST
def member_invite(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    who = request.POST.get("who", "").strip()[:254]
    role = request.POST.get("role", "")
    try:
        added = services.member_invite(
            actor=request.user, workspace_id=membership.workspace_id, who=who, role=role
        )
    except DomainError as exc:
        context = _members_context(request, membership, invite={"who": who, "role": role})
        return _fail(request, exc, MEMBERS_TEMPLATE, context)
    notice = f"Added {added.user.get_username()} as {added.get_role_display().lower()}."
    return _back(request, "settings:members", membership.workspace_id, notice)


@login_required
@require_POST
def member_role(request: HttpRequest, workspace_id: int, membership_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    try:
        changed = services.member_set_role(
            actor=request.user,
            workspace_id=membership.workspace_id,
            membership_id=_db_id(membership_id),
            role=request.POST.get("role", ""),
        )
    except DomainError as exc:
        return _fail(request, exc, MEMBERS_TEMPLATE, _members_context(request, membership))
    if changed.user_id == request.user.pk and not changed.can("manage"):
        messages.success(request, f"You are now {changed.get_role_display().lower()}.")
        return redirect("settings:members", membership.workspace_id)
    notice = f"{changed.user.get_username()} is now {changed.get_role_display().lower()}."
    return _back(request, "settings:members", membership.workspace_id, notice)


@login_required
@require_POST
def member_remove(request: HttpRequest, workspace_id: int, membership_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    try:
        username = services.member_remove(
            actor=request.user,
            workspace_id=membership.workspace_id,
            membership_id=_db_id(membership_id),
        )
    except DomainError as exc:
        return _fail(request, exc, MEMBERS_TEMPLATE, _members_context(request, membership))
    if username == request.user.get_username():
        messages.success(request, f"You left {membership.workspace.name}.")
        return redirect("settings:home")
    return _back(request, "settings:members", membership.workspace_id, f"Removed {username}.")


# ---- API tokens ---------------------------------------------------------------------------------

TOKENS_TEMPLATE = "workspaces/settings/tokens.html"
EXPIRY_OPTIONS = [
    ("30", "30 days"),
    ("7", "7 days"),
    ("90", "90 days"),
    ("never", "Never"),
    ("custom", "On a date…"),
]


def _tokens_context(request: HttpRequest, membership: Membership, **extra: Any) -> dict:
    now = timezone.now()
    tokens = list(services.tokens_of(request.user))
    return settings_context(
        request,
        membership,
        "tokens",
        tokens=tokens,
        now=now,
        expiry_options=EXPIRY_OPTIONS,
        min_date=(now + timedelta(days=1)).date().isoformat(),
        api_base=request.build_absolute_uri("/api/"),
        **{"form": {"name": "", "expiry": "30", "expires_on": ""}, **extra},
    )


@login_required
@require_GET
def tokens(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    return render(request, TOKENS_TEMPLATE, _tokens_context(request, membership))


@login_required
@require_POST
def token_create(request: HttpRequest, workspace_id: int) -> HttpResponse:
    """Create a token and show its value on this one response (never stored, never again)."""
    membership = settings_membership(request, workspace_id)
    form = {
        "name": request.POST.get("name", "").strip()[:200],
        "expiry": request.POST.get("expiry", "")[:10],
        "expires_on": request.POST.get("expires_on", "")[:10],
    }
    try:
        expires_at = services.token_expiry(choice=form["expiry"], custom=form["expires_on"])
        token, raw = services.token_create(
            user=request.user, name=form["name"], expires_at=expires_at
        )
    except DomainError as exc:
        context = _tokens_context(request, membership, form=form)
        return _fail(request, exc, TOKENS_TEMPLATE, context)
    response = render(
        request,
        TOKENS_TEMPLATE,
        _tokens_context(request, membership, created=token, raw_token=raw),
        status=201,
    )
    # The value is on this page only: no cache may keep it.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, workspace_id: int, token_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    try:
        token = services.token_revoke(user=request.user, token_id=_db_id(token_id))
    except DomainError as exc:
        return _fail(request, exc, TOKENS_TEMPLATE, _tokens_context(request, membership))
    notice = f"Revoked “{token.name}”. Programs using it now get 401 Unauthorized."
    return _back(request, "settings:tokens", membership.workspace_id, notice)


# ---- workspace defaults -------------------------------------------------------------------------

DEFAULTS_TEMPLATE = "workspaces/settings/defaults.html"


def _defaults_context(request: HttpRequest, membership: Membership, **extra: Any) -> dict:
    workspace = membership.workspace
    form = {
        "default_model": workspace.default_model,
        "max_cost": "" if workspace.default_max_cost is None else f"{workspace.default_max_cost:g}",
        "max_tokens": ""
        if workspace.default_max_tokens is None
        else str(workspace.default_max_tokens),
    }
    return settings_context(
        request,
        membership,
        "defaults",
        form=form,
        server_model=django_settings.SWITCHBOARD_DEFAULT_MODEL,
        models=_known_models(),
        **extra,
    )


def _known_models() -> list[str]:
    from runs.llm.providers import configured_providers

    names = [
        f"{name}/{model}"
        for name, provider in configured_providers().items()
        for model in (provider.get("models") or {})
    ]
    return sorted(set(names))


def _number(raw: str, what: str, kind: type) -> Any:
    raw = (raw or "").strip().replace(",", "").lstrip("$")
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError as exc:
        raise Invalid(f"{what} must be a number, or left empty for no limit.") from exc
    if kind is float and (value != value or value in (float("inf"), float("-inf"))):
        raise Invalid(f"{what} must be a number, or left empty for no limit.")
    return value


@login_required
def defaults(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    if request.method == "GET":
        return render(request, DEFAULTS_TEMPLATE, _defaults_context(request, membership))
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    form = {key: request.POST.get(key, "").strip()[:200] for key in DEFAULT_FIELDS}
    try:
        services.workspace_defaults_update(
            actor=request.user,
            workspace_id=membership.workspace_id,
            default_model=form["default_model"],
            max_cost=_number(form["max_cost"], "The cost limit", float),
            max_tokens=_number(form["max_tokens"], "The token limit", int),
        )
    except DomainError as exc:
        context = _defaults_context(request, membership)
        context["form"] = form
        return _fail(request, exc, DEFAULTS_TEMPLATE, context)
    return _back(
        request,
        "settings:defaults",
        membership.workspace_id,
        "Saved. Runs started from now on use these defaults.",
    )


DEFAULT_FIELDS = ("default_model", "max_cost", "max_tokens")


# ---- audit log ----------------------------------------------------------------------------------

AUDIT_TEMPLATE = "workspaces/settings/audit.html"


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "none"
    return str(value)


def audit_rows(detail: Any) -> list[tuple[str, str]]:
    """An event's detail as (label, text) pairs: a change reads "old → new"."""
    if not isinstance(detail, dict):
        return [("", _shown(detail))]
    before, after = detail.get("from"), detail.get("to")
    rows: list[tuple[str, str]] = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key in dict.fromkeys([*before, *after]):
            rows.append((key, f"{_shown(before.get(key))} → {_shown(after.get(key))}"))
    elif "from" in detail and "to" in detail:
        rows.append(("", f"{_shown(before)} → {_shown(after)}"))
    rows.extend((key, _shown(value)) for key, value in detail.items() if key not in ("from", "to"))
    return rows


AUDIT_PAGE_SIZE = 50


@login_required
@require_GET
def audit(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    action = request.GET.get("action", "").strip()[:64]
    try:
        events = services.audit_events(
            actor=request.user, workspace_id=membership.workspace_id, action=action
        )
    except DomainError as exc:  # not an owner, or a filter that cannot be stored
        context = settings_context(request, membership, "audit")
        return _fail(request, exc, AUDIT_TEMPLATE, context)
    actions = (
        AuditEvent.objects.filter(workspace_id=membership.workspace_id)
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.rows = audit_rows(event.detail)
    return render(
        request,
        AUDIT_TEMPLATE,
        settings_context(
            request, membership, "audit", page=page, action=action, actions=list(actions)
        ),
    )

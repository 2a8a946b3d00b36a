"""The Notifications settings page: your own email choices; owners set the workspace webhook."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from config.domain import DomainError
from config.errors import http_status
from workspaces.views_settings import settings_context, settings_membership

from . import services
from .models import Kind, Notification

TEMPLATE = "notifications/settings.html"
RECENT = 30


def _context(request: HttpRequest, membership, **extra):
    from vault.services import credential_names

    workspace_id = membership.workspace_id
    recent = Notification.objects.filter(workspace_id=workspace_id)
    if not membership.can("manage"):
        recent = recent.filter(recipient=request.user.email or "\0")
    hook = services.webhook_settings(workspace_id=workspace_id)
    return settings_context(
        request,
        membership,
        "notifications",
        pref=services.preference_for(user=request.user, workspace_id=workspace_id),
        kinds=Kind.choices,
        hook=hook,
        hook_kinds=(hook.kinds if hook else list(Kind.values)),
        credentials=sorted(credential_names(workspace_id=workspace_id)),
        recent=recent[:RECENT],
        has_email=bool(request.user.email),
        **extra,
    )


@login_required
def notification_settings(request: HttpRequest, workspace_id: int) -> HttpResponse:
    membership = settings_membership(request, workspace_id)
    if request.method == "GET":
        return render(request, TEMPLATE, _context(request, membership))
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    action = request.POST.get("action", "")
    try:
        if action == "preferences":
            services.preference_update(
                user=request.user,
                workspace_id=membership.workspace_id,
                choices={kind: request.POST.get(f"email_{kind}") == "on" for kind in Kind.values},
            )
            notice = "Saved your email choices."
        elif action == "webhook":
            services.webhook_update(
                actor=request.user,
                workspace=membership.workspace,
                credential=request.POST.get("credential", "")[:64],
                kinds=[k for k in Kind.values if request.POST.get(f"hook_{k}") == "on"],
                enabled=request.POST.get("enabled") == "on",
            )
            notice = "Saved the workspace webhook."
        elif action == "webhook_test":
            services.webhook_test(actor=request.user, workspace=membership.workspace)
            notice = "Test message delivered."
        else:
            return HttpResponse("Unknown action", status=400)
    except DomainError as exc:
        context = _context(request, membership, error=str(exc.detail))
        return render(request, TEMPLATE, context, status=http_status(exc))
    url = reverse("notifications:settings", args=[membership.workspace_id])
    return redirect(f"{url}?done={notice}")

"""Server-rendered pages of the builder. Thin: they pick what to show; data goes through the API."""

import json
import secrets

from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse

from workspaces.models import Membership

from .models import Flow, FlowVersion
from .starters import STARTERS


def _current_membership(request: HttpRequest) -> tuple[list[Membership], Membership | None]:
    memberships = list(Membership.objects.filter(user=request.user).select_related("workspace"))
    wanted = request.GET.get("workspace", "")
    current = next((m for m in memberships if str(m.workspace_id) == wanted), None)
    return memberships, current or (memberships[0] if memberships else None)


def _demo_flows() -> list[dict]:
    """The demo flows the empty state offers, as import documents."""
    try:
        from .demo import DEMO_FLOWS
    except ImportError:  # the demo catalogue is optional; the static copies stand in
        return [
            {"name": name, "description": text, "url": static(f"demo-flows/{slug}.json")}
            for slug, name, text in STATIC_DEMOS
        ]
    return [
        {
            "name": demo["name"],
            "description": demo.get("description", ""),
            "document": {
                "format": "switchboard.flow",
                "format_version": 1,
                "name": demo["name"],
                "description": demo.get("description", ""),
                "graph": demo["graph"],
            },
        }
        for demo in DEMO_FLOWS
    ]


STATIC_DEMOS = [
    ("support-triage", "Support triage", "Draft an answer, check it, route urgent ones."),
    ("blog-post", "Blog post writer", "Outline a topic, write the post, check its style."),
]


@login_required
def flow_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    memberships, current = _current_membership(request)
    flows = Flow.objects.visible_to(request.user).select_related("workspace", "created_by")
    # Published flows get a "Chat" link (the chat page runs the published version only).
    flows = flows.annotate(
        has_published=Exists(FlowVersion.objects.filter(flow=OuterRef("pk"), published=True))
    )
    flows = flows.filter(workspace_id=current.workspace_id) if current else flows.none()
    if query:
        flows = flows.filter(name__icontains=query)
    context = {
        "nav": "flows",
        "flows": flows[:500],
        "query": query,
        "memberships": memberships,
        "current": current,
        "can_edit": bool(current and current.can("edit")),
        "demo_flows": _demo_flows(),
        "starters": list(STARTERS.values()),
        # One token per rendered form: the same submission twice creates one flow.
        "form_token": secrets.token_urlsafe(16),
    }
    if request.htmx:
        return render(request, "builder/_flow_rows.html", context)
    return render(request, "builder/flow_list.html", context)


@login_required
def flow_editor(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = Flow.objects.visible_to(request.user).select_related("workspace").filter(pk=flow_id)
    flow = flow.first()
    if flow is None:
        raise Http404("Flow not found")
    membership = Membership.objects.get(user=request.user, workspace_id=flow.workspace_id)
    return render(
        request,
        "builder/flow_editor.html",
        {
            "nav": "flows",
            "flow": flow,
            "can_edit": membership.can("edit"),
            "canvas_config_json": json.dumps(
                {
                    "flowId": flow.pk,
                    "workspaceId": flow.workspace_id,
                    "mode": "edit" if membership.can("edit") else "readonly",
                    "flowsUrl": f"/?workspace={flow.workspace_id}",
                    "chatUrl": reverse("conversations:chat", kwargs={"flow_id": flow.pk}),
                }
            ),
        },
    )

"""Server-rendered pages of the builder."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workspaces.models import Membership

from .models import Flow


@login_required
def flow_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    flows = Flow.objects.visible_to(request.user).select_related("workspace", "created_by")
    if query:
        flows = flows.filter(name__icontains=query)
    memberships = Membership.objects.filter(user=request.user).select_related("workspace")
    return render(
        request,
        "builder/flow_list.html",
        {"flows": flows[:500], "query": query, "memberships": memberships},
    )

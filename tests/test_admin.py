"""Admin smoke test: every registered model's changelist opens for a superuser."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from builder.models import Flow, FlowVersion
from tests.builder.graphs import base_graph
from workspaces.models import ApiToken, Membership, Role, Workspace


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Hash test users' passwords cheaply: the real hasher costs a third of a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    workspace = Workspace.objects.create(name="Acme", slug="acme")
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    flow = Flow.objects.create(workspace=workspace, name="Flow", graph=base_graph())
    FlowVersion.objects.create(flow=flow, number=1, graph=flow.graph, published=True)
    ApiToken.issue(user=user, name="ci")
    client.force_login(user)
    return client


def _models():
    return sorted(
        (model for model in admin.site._registry),
        key=lambda model: model._meta.label,
    )


@pytest.mark.parametrize("model", _models(), ids=lambda model: model._meta.label)
def test_admin_changelist_opens(superuser_client, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert superuser_client.get(url).status_code == 200
    assert superuser_client.get(url, {"q": "a"}).status_code == 200


@pytest.mark.parametrize("model", [Flow, FlowVersion, Workspace, Membership, ApiToken])
def test_admin_change_page_opens(superuser_client, model):
    obj = model.objects.first()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    assert superuser_client.get(url).status_code == 200


def test_admin_flow_versions_are_read_only(superuser_client):
    version = FlowVersion.objects.get()
    url = reverse("admin:builder_flowversion_change", args=[version.pk])
    superuser_client.post(url, {"note": "changed", "graph": "{}"})
    version.refresh_from_db()
    assert version.note == "" and version.graph == base_graph()
    assert superuser_client.get(reverse("admin:builder_flowversion_add")).status_code == 403


def test_admin_requires_staff(client, django_user_model):
    user = django_user_model.objects.create_user("plain", password="pw")
    client.force_login(user)
    response = client.get(reverse("admin:builder_flow_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

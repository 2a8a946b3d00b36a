"""The pages outside the canvas: log in, and the list of flows."""

import pytest
from django.utils import timezone

from builder.models import Flow
from tests.builder.graphs import base_graph
from workspaces.models import Membership, Role


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Hash test users' passwords cheaply: the real hasher costs a third of a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_login_page_renders(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="username"' in content and 'name="password"' in content
    assert "csrfmiddlewaretoken" in content


def test_login_with_a_password_then_lands_on_the_flows(client, make_user):
    make_user("dana")
    response = client.post("/login/", {"username": "dana", "password": "pw-dana"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_login_with_a_wrong_password_says_so(client, make_user):
    make_user("dana")
    response = client.post("/login/", {"username": "dana", "password": "nope"})
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()


def test_flow_list_requires_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_flow_list_shows_only_the_users_workspace_flows(
    client, member, workspace, other_workspace, make_user
):
    user = member(Role.VIEWER)
    stranger = make_user("stranger")
    Membership.objects.create(workspace=other_workspace, user=stranger, role=Role.OWNER)
    Flow.objects.create(workspace=workspace, name="Ours to read", graph=base_graph())
    Flow.objects.create(workspace=other_workspace, name="Theirs alone", graph=base_graph())
    Flow.objects.create(
        workspace=workspace, name="Deleted one", graph=base_graph(), deleted_at=timezone.now()
    )
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Ours to read" in content
    assert "Theirs alone" not in content and "Deleted one" not in content

"""Fixtures for the flows API: flows in the test workspace and in another one."""

import pytest

from builder.models import Flow
from workspaces.models import Role

from .graphs import base_graph


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Hash test users' passwords cheaply: the real hasher costs a third of a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def editor(member):
    return member(Role.EDITOR)


@pytest.fixture
def make_flow(workspace):
    def make(ws=None, *, name: str = "Answer questions", graph=None, created_by=None) -> Flow:
        return Flow.objects.create(
            workspace=ws or workspace,
            name=name,
            graph=base_graph() if graph is None else graph,
            created_by=created_by,
        )

    return make


@pytest.fixture
def flow(make_flow, editor):
    return make_flow(created_by=editor)


@pytest.fixture
def foreign_flow(make_flow, other_workspace, make_user):
    from workspaces.models import Membership

    stranger = make_user("stranger")
    Membership.objects.create(workspace=other_workspace, user=stranger, role=Role.OWNER)
    return make_flow(other_workspace, name="Someone else's", created_by=stranger)


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Assert the response is the API's error shape with this status (and code)."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"detail", "code"}, body
    assert isinstance(body["code"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body

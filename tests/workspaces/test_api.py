"""Workspaces, people and personal API tokens over the API."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from tests.conftest import Api
from workspaces.models import ApiToken, Membership, Role, hash_token


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["code"] == code and response.json()["detail"]


def test_workspace_list_shows_the_users_workspaces_and_roles(
    api_for, member, other_workspace, make_user
):
    user = member(Role.APPROVER)
    stranger = make_user("stranger")
    Membership.objects.create(workspace=other_workspace, user=stranger, role=Role.OWNER)
    response = api_for(user).get("/api/workspaces")
    assert response.status_code == 200
    assert response.json() == [
        {"id": user.workspaces.get().pk, "name": "Acme", "slug": "acme", "role": "approver"}
    ]


def test_workspace_people_lists_members_and_their_groups(
    api_for, member, workspace, other_workspace, make_user
):
    viewer = member(Role.VIEWER, username="vera")
    editor = member(Role.EDITOR, username="ed")
    editor.first_name, editor.last_name = "Ed", "Itor"
    editor.save()
    reviewers = Group.objects.create(name="Reviewers")
    editor.groups.add(reviewers)
    outsider = make_user("outsider")
    Membership.objects.create(workspace=other_workspace, user=outsider, role=Role.OWNER)
    outsider.groups.add(Group.objects.create(name="Secret club"))

    response = api_for(viewer).get(f"/api/workspaces/{workspace.pk}/people")
    assert response.status_code == 200
    assert response.json() == {
        "users": [
            {"username": "ed", "display_name": "Ed Itor"},
            {"username": "vera", "display_name": "vera"},
        ],
        "groups": [{"name": "Reviewers"}],
    }
    assert_error(
        api_for(viewer).get(f"/api/workspaces/{other_workspace.pk}/people"), 404, "not_found"
    )
    assert_error(api_for(viewer).get("/api/workspaces/999999/people"), 404, "not_found")


def test_token_create_shows_the_token_once_and_stores_only_its_hash(api_for, make_user):
    user = make_user("integrator")
    client = api_for(user)
    response = client.post("/api/tokens", {"name": "  CI  "})
    assert response.status_code == 201
    created = response.json()
    raw = created["token"]
    assert raw.startswith("sb_") and len(raw) > 40
    assert created["name"] == "CI" and created["prefix"] == raw[:10]
    assert created["revoked_at"] is None and created["last_used_at"] is None

    token = ApiToken.objects.get(pk=created["id"])
    assert token.token_hash == hash_token(raw) != raw
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM workspaces_apitoken")
        assert raw not in repr(cursor.fetchall())

    listed = client.get("/api/tokens")
    assert listed.status_code == 200
    assert raw not in listed.content.decode()
    assert [set(t) for t in listed.json()] == [
        {"id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "expires_at"}
    ]


def test_token_authenticates_and_records_its_use(make_user):
    user = make_user("integrator")
    token, raw = ApiToken.issue(user=user, name="ci")
    response = Api(token=raw).get("/api/tokens")
    assert response.status_code == 200
    assert [t["id"] for t in response.json()] == [token.pk]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_token_list_shows_only_the_users_tokens(api_for, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    ApiToken.issue(user=alice, name="alice's")
    ApiToken.issue(user=bob, name="bob's")
    assert [t["name"] for t in api_for(alice).get("/api/tokens").json()] == ["alice's"]


def test_token_revoke(api_for, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    token, raw = ApiToken.issue(user=alice, name="ci")
    bobs, _ = ApiToken.issue(user=bob, name="bob's")
    client = api_for(alice)

    assert_error(client.delete(f"/api/tokens/{bobs.pk}"), 404, "not_found")
    bobs.refresh_from_db()
    assert bobs.revoked_at is None
    assert_error(client.delete("/api/tokens/999999"), 404, "not_found")

    assert client.delete(f"/api/tokens/{token.pk}").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.delete(f"/api/tokens/{token.pk}").status_code == 204  # idempotent
    assert client.get("/api/tokens").json()[0]["revoked_at"] is not None
    assert_error(Api(token=raw).get("/api/tokens"), 401, "unauthorized")


def test_token_can_revoke_itself(make_user):
    user = make_user("integrator")
    token, raw = ApiToken.issue(user=user, name="ci")
    assert Api(token=raw).delete(f"/api/tokens/{token.pk}").status_code == 204
    assert_error(Api(token=raw).get("/api/tokens"), 401, "unauthorized")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": 5},
        {"name": "x" * 101},
        {"name": "a\x00"},
        {"name": "ci", "user": 1},
        {"name": "ci", "token_hash": "0" * 64},
        {"name": "ci", "prefix": "x"},
    ],
)
def test_token_create_refuses_bad_bodies(api_for, make_user, body):
    user = make_user("integrator")
    assert_error(api_for(user).post("/api/tokens", body), 422, "invalid_request")
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/workspaces"),
        ("get", "/api/workspaces/1/people"),
        ("get", "/api/tokens"),
        ("post", "/api/tokens"),
        ("delete", "/api/tokens/1"),
    ],
)
def test_workspaces_api_anonymous_is_401(api_for, method, path):
    client = api_for()
    response = (
        client.post(path, {"name": "x"}) if method == "post" else getattr(client, method)(path)
    )
    assert_error(response, 401, "unauthorized")


def test_token_create_needs_csrf_with_a_session(api_for, make_user):
    user = make_user("integrator")
    assert_error(api_for(user, csrf=True).post("/api/tokens", {"name": "ci"}), 403, "forbidden")
    assert not ApiToken.objects.exists()

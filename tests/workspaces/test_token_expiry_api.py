"""Token expiry and revocation over the API: a 401 that says why, create with an expiry, and
the raw token only in the create response."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import Api
from workspaces.models import ApiToken, AuditEvent, Role


def test_an_expired_token_gets_401_saying_when_it_expired(make_user):
    user = make_user("integrator")
    token, raw = ApiToken.issue(user=user, name="ci", expires_at=timezone.now() + timedelta(days=1))
    assert Api(token=raw).get("/api/workspaces").status_code == 200
    expired_at = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=expired_at)
    response = Api(token=raw).get("/api/workspaces")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthorized" and body["reason"] == "token_expired"
    assert body["detail"].startswith(f"This API token expired on {expired_at:%Y-%m-%d %H:%M} UTC")
    # Writes too: an expired token cannot start or change anything.
    assert Api(token=raw).post("/api/tokens", {"name": "new"}).status_code == 401
    assert not ApiToken.objects.filter(name="new").exists()


def test_a_revoked_token_gets_401_saying_it_was_revoked(make_user):
    user = make_user("integrator")
    token, raw = ApiToken.issue(user=user, name="ci")
    assert Api(token=raw).delete(f"/api/tokens/{token.pk}").status_code == 204
    response = Api(token=raw).get("/api/workspaces")
    assert response.status_code == 401 and response.json()["reason"] == "token_revoked"
    assert "was revoked on" in response.json()["detail"]


def test_an_unknown_token_gets_the_plain_401(db):
    response = Api(token="sb_not-a-real-token").get("/api/workspaces")
    assert response.status_code == 401 and "reason" not in response.json()


def test_token_create_over_the_api_with_an_expiry(api_for, member, workspace):
    user = member(Role.EDITOR)
    client = api_for(user)
    created = client.post("/api/tokens", {"name": "ci", "expires_in_days": 7})
    assert created.status_code == 201, created.content
    body = created.json()
    expires = timezone.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (timezone.now() + timedelta(days=7))) < timedelta(minutes=5)
    raw = body["token"]
    assert Api(token=raw).get("/api/workspaces").status_code == 200
    listed = client.get("/api/tokens")
    assert raw not in listed.content.decode()
    assert listed.json()[0]["expires_at"] is not None
    at = (timezone.now() + timedelta(days=2)).isoformat()
    assert client.post("/api/tokens", {"name": "b", "expires_at": at}).status_code == 201
    assert AuditEvent.objects.filter(workspace=workspace, action="token.created").count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ci", "expires_in_days": 0},
        {"name": "ci", "expires_in_days": -1},
        {"name": "ci", "expires_in_days": 10**6},
        {"name": "ci", "expires_in_days": "soon"},
        {"name": "ci", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "ci", "expires_at": "2099-01-01T00:00:00"},
        {"name": "ci", "expires_at": "not a date"},
        {"name": "ci", "expires_in_days": 3, "expires_at": "2099-01-01T00:00:00Z"},
    ],
)
def test_token_create_refuses_bad_expiries(api_for, make_user, body):
    response = api_for(make_user("integrator")).post("/api/tokens", body)
    assert response.status_code == 422, response.content
    assert response.json()["detail"]
    assert not ApiToken.objects.exists()


def test_token_revoke_with_an_id_out_of_range_is_422_and_unknown_is_404(api_for, make_user):
    client = api_for(make_user("integrator"))
    assert client.delete(f"/api/tokens/{2**63}").status_code == 422
    assert client.delete(f"/api/tokens/{2**63 - 1}").status_code == 404


def test_an_expired_token_cannot_open_a_websocket_as_its_owner(make_user):
    from workspaces.services import token_authenticate

    user = make_user("integrator")
    token, raw = ApiToken.issue(user=user, name="ci", expires_at=timezone.now() + timedelta(days=1))
    assert token_authenticate(raw) == user
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert token_authenticate(raw) is None

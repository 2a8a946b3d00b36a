# ruff: noqa: F811
"""Credentials and providers over the API and the pages: who may do what, and what comes back."""

from __future__ import annotations

import pytest

from vault.models import Credential, Provider
from workspaces.models import AuditEvent

from .conftest import loopback_allowed  # noqa: F401

VALUE = "value-never-shown-9c2f1e"


@pytest.fixture
def people(member):
    return {role: member(role) for role in ("owner", "editor", "approver", "viewer")}


def create(api, workspace, name="weather_api", value=VALUE, **extra):
    return api.post(
        f"/api/workspaces/{workspace.pk}/credentials", {"name": name, "value": value, **extra}
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "status"), [("owner", 201), ("editor", 201), ("approver", 403), ("viewer", 403)]
)
def test_only_owners_and_editors_create(api_for, people, workspace, role, status):
    response = create(api_for(people[role], token=True), workspace)
    assert response.status_code == status, response.content
    assert VALUE not in response.content.decode()
    assert Credential.objects.count() == (1 if status == 201 else 0)


@pytest.mark.django_db
def test_viewers_see_names_never_values(api_for, people, workspace):
    assert (
        create(api_for(people["editor"]), workspace, description="OpenWeather").status_code == 201
    )
    viewer = api_for(people["viewer"], token=True)
    listed = viewer.get(f"/api/workspaces/{workspace.pk}/credentials")
    assert listed.status_code == 200
    [item] = listed.json()
    assert item["name"] == "weather_api" and item["reference"] == "{{ secrets.weather_api }}"
    assert "value" not in item and VALUE not in listed.content.decode()
    credential = Credential.objects.get()
    for response in (
        viewer.put(
            f"/api/workspaces/{workspace.pk}/credentials/{credential.pk}", {"value": "x" * 9}
        ),
        viewer.delete(f"/api/workspaces/{workspace.pk}/credentials/{credential.pk}"),
    ):
        assert response.status_code == 403
    page = api_for(people["viewer"]).get(f"/settings/{workspace.pk}/credentials/")
    html = page.content.decode()
    assert page.status_code == 200 and "weather_api" in html and VALUE not in html
    assert "Replace value" not in html and "Add a credential" not in html
    posted = api_for(people["viewer"]).post(
        f"/settings/{workspace.pk}/credentials/create/",
        "name=other_key&value=abcdefghij",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert posted.status_code == 403 and not Credential.objects.filter(name="other_key").exists()


@pytest.mark.django_db
def test_replace_changes_the_value_and_is_audited_without_it(api_for, people, workspace):
    from vault.services import credential_value

    editor = api_for(people["editor"])
    created = create(editor, workspace).json()
    replaced = editor.put(
        f"/api/workspaces/{workspace.pk}/credentials/{created['id']}", {"value": "new-value-123"}
    )
    assert replaced.status_code == 200 and "new-value-123" not in replaced.content.decode()
    assert credential_value(workspace_id=workspace.pk, name="weather_api") == "new-value-123"
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "target"))
    assert actions == [
        ("credential.created", "weather_api"),
        ("credential.replaced", "weather_api"),
    ]
    assert VALUE not in str(list(AuditEvent.objects.values()))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "Weather API", "value": VALUE}, 422, "invalid_name"),
        ({"name": "weather_api", "value": "short"}, 422, "invalid_value"),
        ({"name": "weather_api", "value": "line\nbreak-value"}, 422, "invalid_value"),
        ({"name": "weather_api", "value": VALUE, "extra": 1}, 422, "invalid_request"),
        ({"name": "weather_api"}, 422, "invalid_request"),
    ],
)
def test_bad_credentials_get_clear_errors(api_for, people, workspace, body, status, code):
    response = api_for(people["owner"]).post(f"/api/workspaces/{workspace.pk}/credentials", body)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert VALUE not in response.content.decode()


@pytest.mark.django_db
def test_duplicate_names_conflict_and_foreign_workspaces_are_404(
    api_for, people, workspace, other_workspace, member
):
    owner = api_for(people["owner"])
    assert create(owner, workspace).status_code == 201
    assert create(owner, workspace).json()["code"] == "duplicate_name"
    stranger = member("owner", username="stranger", ws=other_workspace)
    foreign = api_for(stranger)
    assert foreign.get(f"/api/workspaces/{workspace.pk}/credentials").status_code == 404
    assert create(foreign, workspace).status_code == 404
    credential = Credential.objects.get()
    assert (
        foreign.delete(
            f"/api/workspaces/{other_workspace.pk}/credentials/{credential.pk}"
        ).status_code
        == 404
    )
    assert owner.get("/api/workspaces/99999999999999999999/credentials").status_code == 422


def provider_body(base_url: str, **extra) -> dict:
    return {
        "name": "acme",
        "base_url": base_url,
        "models": [{"name": "m1", "input_price": 1.5, "output_price": 6, "tier": "large"}],
        **extra,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/v1",
        "http://10.0.0.5/v1",
        "http://169.254.169.254/latest",
        "http://[::1]:8/v1",
        "http://0x7f000001/v1",
    ],
)
def test_provider_urls_on_private_networks_are_refused(api_for, people, workspace, url):
    response = api_for(people["owner"]).post(
        f"/api/workspaces/{workspace.pk}/providers", provider_body(url)
    )
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "blocked_address"
    assert not Provider.objects.exists()


@pytest.mark.django_db
def test_loopback_is_allowed_only_by_the_setting(api_for, people, workspace, loopback_allowed):
    owner = api_for(people["owner"])
    assert create(owner, workspace, name="acme_key").status_code == 201
    response = owner.post(
        f"/api/workspaces/{workspace.pk}/providers",
        provider_body("http://127.0.0.1:9/v1", credential="acme_key"),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["credential"] == "acme_key" and body["models"][0]["model"] == "acme/m1"
    assert VALUE not in response.content.decode()
    # Still no private networks, only loopback.
    refused = owner.post(
        f"/api/workspaces/{workspace.pk}/providers",
        provider_body("http://192.168.1.10/v1", name="lan"),
    )
    assert refused.json()["code"] == "blocked_address"
    listed = api_for(people["viewer"]).get(f"/api/workspaces/{workspace.pk}/providers").json()
    assert [(p["name"], p["source"]) for p in listed][:1] == [("acme", "workspace")]
    assert {"openai", "local"} <= {p["name"] for p in listed if p["source"] == "server"}
    # A credential a provider uses as its key cannot be deleted from under it.
    key = Credential.objects.get(name="acme_key")
    deleted = owner.delete(f"/api/workspaces/{workspace.pk}/credentials/{key.pk}")
    assert deleted.json()["code"] == "credential_in_use"
    assert (
        api_for(people["viewer"])
        .delete(f"/api/workspaces/{workspace.pk}/providers/{body['id']}")
        .status_code
        == 403
    )


@pytest.mark.django_db
def test_server_provider_names_are_taken(api_for, people, workspace, loopback_allowed):
    response = api_for(people["owner"]).post(
        f"/api/workspaces/{workspace.pk}/providers",
        provider_body("http://127.0.0.1:9/v1", name="openai"),
    )
    assert response.json()["code"] == "invalid_name"

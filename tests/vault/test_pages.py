"""The Credentials and Model providers pages: scoping, clear errors, and values never echoed."""

from __future__ import annotations

import pytest
from django.test import Client

from vault.models import Credential, Provider
from vault.services import credential_create

TYPED = "typed-but-refused-value"


@pytest.fixture
def owner(member):
    return member("owner")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_pages_need_a_login_and_membership(client, owner, workspace, other_workspace, member):
    stranger = client_for(member("owner", username="stranger", ws=other_workspace))
    for path in (f"/settings/{workspace.pk}/credentials/", f"/settings/{workspace.pk}/providers/"):
        assert client.get(path).status_code == 302
        assert stranger.get(path).status_code == 404
        assert client_for(owner).get(path).status_code == 200
    stranger = client_for(member("editor", username="s2", ws=other_workspace))
    posted = stranger.post(
        f"/settings/{workspace.pk}/credentials/create/", {"name": "x_key", "value": TYPED}
    )
    assert posted.status_code == 404 and not Credential.objects.exists()
    assert client_for(owner).get(f"/settings/{workspace.pk}/credentials/create/").status_code == 405
    huge = f"/settings/{workspace.pk}/credentials/99999999999999999999/delete/"
    assert client_for(owner).post(huge).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "Bad Name", "value": TYPED}, "lowercase letter"),
        ({"name": "ok_name", "value": "7chars!"}, "at least 8 characters"),
    ],
)
def test_a_refused_credential_says_why_and_does_not_echo_the_value(owner, workspace, form, message):
    response = client_for(owner).post(f"/settings/{workspace.pk}/credentials/create/", form)
    html = response.content.decode()
    assert response.status_code == 422 and message in html
    assert form["value"] not in html.replace('name="value"', "")
    assert response["Cache-Control"] == "no-store"
    assert not Credential.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"base_url": "http://10.1.2.3/v1", "model_name": "m"}, "private, local or reserved"),
        ({"base_url": "ftp://example.com", "model_name": "m"}, "http:// or https://"),
        ({"base_url": "https://u:p@example.com/v1", "model_name": "m"}, "user name or password"),
        ({"base_url": "http://127.0.0.1:1/v1", "model_name": ""}, "at least one model"),
    ],
)
def test_a_refused_provider_says_why(owner, workspace, form, message, settings):
    settings.SWITCHBOARD_ALLOW_LOOPBACK = True
    response = client_for(owner).post(
        f"/settings/{workspace.pk}/providers/create/", {"name": "acme", **form}
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Provider.objects.exists()


@pytest.mark.django_db
def test_a_bad_price_is_refused_and_the_form_keeps_what_was_typed(owner, workspace, settings):
    settings.SWITCHBOARD_ALLOW_LOOPBACK = True
    response = client_for(owner).post(
        f"/settings/{workspace.pk}/providers/create/",
        {
            "name": "acme",
            "base_url": "http://127.0.0.1:1/v1",
            "model_name": ["m1"],
            "model_input_price": ["cheap"],
            "model_tier": ["small"],
        },
    )
    html = response.content.decode()
    assert response.status_code == 422 and "must be a number" in html
    assert 'value="acme"' in html and 'value="cheap"' in html


@pytest.mark.django_db
def test_editing_a_provider_replaces_its_models_and_deleting_removes_it(owner, workspace, settings):
    settings.SWITCHBOARD_ALLOW_LOOPBACK = True
    client = client_for(owner)
    key = credential_create(user=owner, workspace_id=workspace.pk, name="acme_key", value=TYPED)
    base = f"/settings/{workspace.pk}/providers"
    client.post(
        f"{base}/create/",
        {"name": "acme", "base_url": "http://127.0.0.1:1/v1", "model_name": "m1"},
    )
    provider = Provider.objects.get()
    assert provider.credential is None
    updated = client.post(
        f"{base}/{provider.pk}/update/",
        {
            "base_url": "http://127.0.0.1:2/v1",
            "credential": str(key.pk),
            "model_name": ["m2", "m3"],
            "model_input_price": ["0.5", "1"],
            "model_output_price": ["1", "2"],
            "model_tier": ["large", "small"],
        },
    )
    assert updated.status_code == 302
    provider.refresh_from_db()
    assert provider.base_url == "http://127.0.0.1:2/v1" and provider.credential == key
    assert sorted(provider.models.values_list("name", "tier")) == [("m2", "large"), ("m3", "small")]
    page = client.get(f"{base}/").content.decode()
    assert "acme/m2" in page and TYPED not in page
    assert client.post(f"{base}/{provider.pk}/delete/").status_code == 302
    assert not Provider.objects.exists()


@pytest.mark.django_db
def test_viewers_get_the_read_only_pages(member, workspace):
    viewer = client_for(member("viewer"))
    credentials = viewer.get(f"/settings/{workspace.pk}/credentials/").content.decode()
    providers = viewer.get(f"/settings/{workspace.pk}/providers/").content.decode()
    assert "Only the workspace's owners and editors" in credentials
    assert "Add a provider" not in providers and "Read-only" in providers


@pytest.mark.django_db
def test_server_models_show_their_tier_and_context_window(owner, workspace, settings):
    settings.SWITCHBOARD_PROVIDERS = {
        "openai": {
            "base_url": "https://api.example.com/v1",
            "models": {
                "cheap": {"input": 0.1, "output": 0.4},  # no tier given: by price, small
                "strong": {"input": 3, "output": 12, "tier": "large", "context_window": 200000},
            },
        }
    }
    html = client_for(owner).get(f"/settings/{workspace.pk}/providers/").content.decode()
    assert 'data-model-tier="small"' in html and 'data-model-tier="large"' in html
    assert "200000 tokens" in html

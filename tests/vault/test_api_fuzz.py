"""Random bodies to the credentials and providers endpoints: always a 2xx or a 4xx in the API's
shape, never a 5xx, and never a value in the answer."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vault.models import Credential

FUZZ = settings(
    # FUZZ_EXAMPLES=1000 explores further, by hand; the default keeps the suite quick.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 60)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "🦜" * 40,
    "x" * 9000,
    "weather_api",
    "http://10.0.0.1/",
]
text = st.one_of(st.text(max_size=30), st.sampled_from(NASTY))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), text
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(text, kids, max_size=3)),
    max_leaves=12,
)
credential_bodies = st.fixed_dictionaries(
    {},
    optional={"name": values, "value": values, "description": values, "extra": values},
)
model = st.fixed_dictionaries(
    {},
    optional={
        "name": values,
        "input_price": values,
        "output_price": values,
        "context_window": values,
        "tier": st.one_of(values, st.sampled_from(["small", "medium", "large"])),
    },
)
provider_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(values, st.just("acme")),
        "base_url": st.one_of(values, st.just("http://127.0.0.1:9/v1")),
        "credential": values,
        "models": st.one_of(values, st.lists(model, max_size=3)),
    },
)


@pytest.fixture
def owner(member):
    return member("owner")


def shaped(response) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) >= {"detail", "code"}


@pytest.mark.django_db
@FUZZ
@given(body=credential_bodies, raw=st.binary(max_size=40))
def test_credential_endpoints_never_fail(api_for, owner, workspace, body, raw):
    api = api_for(owner)
    base = f"/api/workspaces/{workspace.pk}/credentials"
    created = api.post(base, body)
    shaped(created)
    if isinstance(body.get("value"), str) and len(body["value"]) >= 8:
        assert body["value"].strip() not in created.content.decode()
    shaped(api.post(base, raw))
    credential = Credential.objects.first()
    if credential is not None:
        shaped(api.put(f"{base}/{credential.pk}", body))
        shaped(api.delete(f"{base}/{credential.pk}"))
    shaped(api.get(base))


@pytest.mark.django_db
@FUZZ
@given(body=provider_bodies)
def test_provider_endpoints_never_fail(api_for, owner, workspace, body, settings):
    settings.SWITCHBOARD_ALLOW_LOOPBACK = True
    api = api_for(owner)
    base = f"/api/workspaces/{workspace.pk}/providers"
    created = api.post(base, body)
    shaped(created)
    if created.status_code == 201:
        provider_id = created.json()["id"]
        shaped(api.put(f"{base}/{provider_id}", {k: v for k, v in body.items() if k != "name"}))
        shaped(api.delete(f"{base}/{provider_id}"))
    shaped(api.get(base))
    shaped(api.post(base, json.dumps(body)[:-1] or "{"))

"""Random form posts to the settings pages and random token bodies to the API never fail: a page
or an error, never a 500, and nothing stored that the owner did not ask for."""

import os
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builder.test_api_fuzz import NASTY_TEXT, json_values
from workspaces.models import Membership, Role

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 60)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Form data travels as UTF-8, which has no lone surrogates: a browser cannot send them.
text = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60),
    st.sampled_from(
        [
            *(t for t in NASTY_TEXT if t.isascii() or t.encode("utf-8", "ignore").decode() == t),
            "owner",
            "approver",
            "custom",
            "7",
            "never",
            "1e309",
            "nan",
            "-0",
            "9" * 30,
            "2099-12-31",
            "0000-00-00",
            "$1,000",
        ]
    ),
)
FIELDS = ["who", "role", "name", "expiry", "expires_on", "default_model", "max_cost", "max_tokens"]
forms = st.dictionaries(st.sampled_from(FIELDS), text, max_size=len(FIELDS))


@pytest.fixture
def owner_client(member, make_user):
    owner = member(Role.OWNER, "olive")
    member(Role.VIEWER, "vic")
    make_user("sam")
    client = Client()
    client.force_login(owner)
    return client


def _posts(workspace) -> list[str]:
    viewer = Membership.objects.get(user__username="vic")
    base = f"/settings/{workspace.pk}"
    return [
        f"{base}/members/invite/",
        f"{base}/members/{viewer.pk}/role/",
        f"{base}/tokens/create/",
        f"{base}/defaults/",
    ]


@FUZZ
@given(form=forms, which=st.integers(min_value=0, max_value=3))
def test_fuzz_settings_forms_never_fail(owner_client, workspace, form, which):
    url = _posts(workspace)[which]
    # Encoded as a browser would (NUL becomes %00 and arrives as NUL).
    response = owner_client.post(
        url, urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (201, 302, 404, 409, 422), (url, form, response.status_code)
    # The owner stays an owner (every post here targets someone else); a post may legitimately
    # make another member an owner (a role of "owner"), so only that one is certain.
    assert Membership.objects.get(user__username="olive").role == Role.OWNER


@pytest.fixture
def integrator_client(api_for, make_user):
    return api_for(make_user("integrator"))


@FUZZ
@given(action=text, page=text)
def test_fuzz_audit_filters_never_fail(owner_client, workspace, action, page):
    query = urlencode({"action": action, "page": page})
    response = owner_client.get(f"/settings/{workspace.pk}/audit/?{query}")
    assert response.status_code in (200, 422), (action, page, response.status_code)


@FUZZ
@given(body=json_values)
def test_fuzz_token_create_over_the_api_never_fails(integrator_client, body):
    client = integrator_client
    response = client.post("/api/tokens", body if body is not None else {})
    assert response.status_code in (201, 400, 422), (body, response.content[:300])
    assert response.json()["code" if response.status_code != 201 else "token"]

"""The workspace settings pages: who sees what, who may change what (owner, editor, approver,
viewer, non-member), forms with bad input, and the token shown once."""

import html as html_text
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from workspaces.models import ApiToken, AuditEvent, Membership, Role

PAGES = ["members", "tokens", "defaults", "audit"]
ROLES = [Role.OWNER, Role.EDITOR, Role.APPROVER, Role.VIEWER]


@pytest.fixture
def people(member, make_user, workspace, other_workspace):
    """One user per role in `workspace`, and a stranger who owns another workspace."""
    users = {role: member(role, f"{role}-user") for role in ROLES}
    stranger = make_user("stranger")
    Membership.objects.create(workspace=other_workspace, user=stranger, role=Role.OWNER)
    users["stranger"] = stranger
    return users


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(workspace, name: str, *rest) -> str:
    return "/".join([f"/settings/{workspace.pk}/{name}", *map(str, rest)]) + "/"


def test_settings_pages_require_login(client, workspace):
    for name in PAGES:
        response = client.get(page(workspace, name))
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/settings/")["Location"].startswith("/login/")


def test_settings_home_goes_to_the_first_workspace_or_the_chosen_one(
    people, workspace, other_workspace
):
    owner = people[Role.OWNER]
    Membership.objects.create(workspace=other_workspace, user=owner, role=Role.VIEWER)
    client = client_for(owner)
    first = min([workspace, other_workspace], key=lambda w: w.name)
    assert client.get("/settings/")["Location"] == page(first, "members")
    chosen = client.get(f"/settings/?workspace={other_workspace.pk}&section=defaults")
    assert chosen["Location"] == page(other_workspace, "defaults")
    # A workspace the user is not in, or nonsense, falls back to the first.
    for bad in ["999999", "abc", "9" * 40]:
        assert client.get(f"/settings/?workspace={bad}")["Location"] == page(first, "members")


def test_settings_home_without_a_workspace_says_so(make_user):
    response = client_for(make_user("loner")).get("/settings/")
    assert response.status_code == 200
    assert "You are not in a workspace yet" in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_members_tokens_and_defaults_are_readable_by_every_member(people, workspace, role):
    client = client_for(people[role])
    for name in ["members", "tokens", "defaults"]:
        response = client.get(page(workspace, name))
        assert response.status_code == 200, name
        html = response.content.decode()
        assert 'aria-current="page">Settings</a>' in html  # the top nav marks Settings
        assert "Workspace defaults" in html and "API tokens" in html
    members = client.get(page(workspace, "members")).content.decode()
    for other in ROLES:
        assert f"{other}-user" in members
    assert "stranger" not in members
    # Only owners see the forms that change members and defaults.
    can_manage = role == Role.OWNER
    assert ("Add member" in members) is can_manage
    assert ("Save defaults" in client.get(page(workspace, "defaults")).content.decode()) is (
        can_manage
    )


@pytest.mark.parametrize("name", PAGES)
def test_a_non_member_gets_404_on_every_settings_page(people, workspace, name):
    assert client_for(people["stranger"]).get(page(workspace, name)).status_code == 404


@pytest.mark.parametrize("workspace_id", ["0", "9223372036854775808", "99999999999999999999"])
def test_out_of_range_workspace_ids_are_404_not_500(people, workspace_id):
    response = client_for(people[Role.OWNER]).get(f"/settings/{workspace_id}/members/")
    assert response.status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_only_owners_see_the_audit_log(people, workspace, role):
    response = client_for(people[role]).get(page(workspace, "audit"))
    html = response.content.decode()
    if role == Role.OWNER:
        assert response.status_code == 200 and "Audit log" in html
    else:
        assert response.status_code == 403
        assert "Only the workspace's owners" in html_text.unescape(html)
        assert f"settings/{workspace.pk}/audit/" not in re.sub(r"<form.*?</form>", "", html)


# ---- the permissions matrix for writes --------------------------------------------------------


def writes(workspace, people) -> list[tuple[str, dict]]:
    viewer = Membership.objects.get(user=people[Role.VIEWER])
    return [
        (page(workspace, "members", "invite"), {"who": "newcomer", "role": "editor"}),
        (page(workspace, "members", viewer.pk, "role"), {"role": "owner"}),
        (page(workspace, "members", viewer.pk, "remove"), {}),
        (page(workspace, "defaults"), {"default_model": "openai/gpt-4o", "max_cost": "1"}),
    ]


@pytest.mark.parametrize("role", [Role.EDITOR, Role.APPROVER, Role.VIEWER, "stranger"])
def test_writes_by_anyone_but_an_owner_change_nothing(people, workspace, make_user, role):
    make_user("newcomer")
    client = client_for(people[role])
    for url, body in writes(workspace, people):
        response = client.post(url, body)
        assert response.status_code == (404 if role == "stranger" else 403), url
    assert Membership.objects.filter(workspace=workspace).count() == 4
    assert Membership.objects.get(user=people[Role.VIEWER]).role == "viewer"
    workspace.refresh_from_db()
    assert workspace.default_model == "" and workspace.default_max_cost is None
    assert not AuditEvent.objects.exists()


def test_owner_invites_changes_role_and_removes_with_notices(people, workspace, make_user):
    make_user("newcomer", email="new@example.com")
    client = client_for(people[Role.OWNER])
    response = client.post(
        page(workspace, "members", "invite"), {"who": "new@example.com", "role": "approver"}
    )
    assert response.status_code == 302
    listed = client.get(page(workspace, "members")).content.decode()
    assert "Added newcomer as approver." in listed
    newcomer = Membership.objects.get(user__username="newcomer")
    assert newcomer.role == "approver"

    client.post(page(workspace, "members", newcomer.pk, "role"), {"role": "editor"})
    newcomer.refresh_from_db()
    assert newcomer.role == "editor"
    client.post(page(workspace, "members", newcomer.pk, "remove"))
    assert not Membership.objects.filter(pk=newcomer.pk).exists()
    assert [e.action for e in AuditEvent.objects.filter(target="newcomer")] == [
        "member.removed",
        "member.role_changed",
        "member.added",
    ]


def test_inviting_an_unknown_user_keeps_the_form_and_says_why(people, workspace):
    client = client_for(people[Role.OWNER])
    response = client.post(page(workspace, "members", "invite"), {"who": "ghost", "role": "viewer"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "No user with that username or email" in html
    assert 'value="ghost"' in html


def test_the_last_owner_cannot_be_removed_or_demoted_from_the_page(people, workspace):
    client = client_for(people[Role.OWNER])
    mine = Membership.objects.get(user=people[Role.OWNER])
    html = client.get(page(workspace, "members")).content.decode()
    assert "Last owner" in html
    for url, body in [
        (page(workspace, "members", mine.pk, "remove"), {}),
        (page(workspace, "members", mine.pk, "role"), {"role": "viewer"}),
    ]:
        response = client.post(url, body)
        assert response.status_code == 409
        assert "last owner" in response.content.decode()
    mine.refresh_from_db()
    assert mine.role == "owner"


def test_a_member_of_another_workspace_is_not_reachable_by_id(people, workspace, other_workspace):
    foreign = Membership.objects.get(user=people["stranger"], workspace=other_workspace)
    client = client_for(people[Role.OWNER])
    response = client.post(page(workspace, "members", foreign.pk, "remove"))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_settings_forms_refuse_get_for_writes(people, workspace):
    client = client_for(people[Role.OWNER])
    assert client.get(page(workspace, "members", "invite")).status_code == 405
    assert client.get(page(workspace, "tokens", "create")).status_code == 405


# ---- tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_member_creates_their_own_token_shown_once(people, workspace, role):
    user = people[role]
    client = client_for(user)
    response = client.post(page(workspace, "tokens", "create"), {"name": "ci", "expiry": "30"})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    raw = re.search(r'value="(sb_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get(user=user)
    assert token.expires_at.date() == (timezone.now() + timedelta(days=30)).date()
    again = client.get(page(workspace, "tokens")).content.decode()
    assert raw not in again and token.prefix in again
    assert raw not in str(list(AuditEvent.objects.values()))


def test_token_create_with_a_custom_date_and_bad_input(people, workspace):
    client = client_for(people[Role.VIEWER])
    day = (timezone.now() + timedelta(days=10)).date().isoformat()
    ok = client.post(
        page(workspace, "tokens", "create"),
        {"name": "deploy", "expiry": "custom", "expires_on": day},
    )
    assert ok.status_code == 201
    assert ApiToken.objects.get(name="deploy").expires_at.date().isoformat() == day
    for body in [
        {"name": "", "expiry": "30"},
        {"name": "x", "expiry": "forever"},
        {"name": "x", "expiry": "custom", "expires_on": ""},
        {"name": "x", "expiry": "custom", "expires_on": "2020-01-01"},
        {"name": "x", "expiry": "custom", "expires_on": "31/12/2099"},
    ]:
        response = client.post(page(workspace, "tokens", "create"), body)
        assert response.status_code == 422, body
        assert 'role="alert"' in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_tokens_page_lists_only_mine_with_last_use_and_expiry(people, workspace):
    ApiToken.issue(
        user=people[Role.EDITOR], name="mine", expires_at=timezone.now() - timedelta(days=1)
    )
    ApiToken.issue(user=people[Role.OWNER], name="owners-token")
    html = client_for(people[Role.EDITOR]).get(page(workspace, "tokens")).content.decode()
    assert "mine" in html and "owners-token" not in html
    assert "Expired" in html and "Never" in html  # never used


def test_revoke_from_the_page_only_reaches_my_tokens(people, workspace):
    mine, _ = ApiToken.issue(user=people[Role.EDITOR], name="mine")
    theirs, _ = ApiToken.issue(user=people[Role.OWNER], name="theirs")
    client = client_for(people[Role.EDITOR])
    assert client.post(page(workspace, "tokens", theirs.pk, "revoke")).status_code == 404
    assert client.post(page(workspace, "tokens", mine.pk, "revoke")).status_code == 302
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert "Revoked" in client.get(page(workspace, "tokens")).content.decode()


# ---- defaults and audit -----------------------------------------------------------------------


def test_owner_saves_defaults_and_bad_numbers_are_explained(people, workspace):
    client = client_for(people[Role.OWNER])
    response = client.post(
        page(workspace, "defaults"),
        {"default_model": "openai/gpt-4o", "max_cost": "$2.50", "max_tokens": "20,000"},
    )
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert (workspace.default_model, workspace.default_max_cost, workspace.default_max_tokens) == (
        "openai/gpt-4o",
        2.5,
        20000,
    )
    for body, words in [
        ({"max_cost": "lots"}, "must be a number"),
        ({"max_cost": "nan"}, "must be a number"),
        ({"max_tokens": "1.5"}, "must be a number"),
        ({"max_cost": "-3"}, "more than $0"),
        ({"default_model": "gpt 4"}, "without spaces"),
    ]:
        response = client.post(page(workspace, "defaults"), {"default_model": "", **body})
        assert response.status_code == 422, body
        assert words in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.default_max_cost == 2.5
    # Empty fields clear the limits.
    client.post(
        page(workspace, "defaults"), {"default_model": "", "max_cost": "", "max_tokens": ""}
    )
    workspace.refresh_from_db()
    assert workspace.default_max_cost is None and workspace.default_max_tokens is None


def test_audit_log_pages_and_filters(people, workspace):
    from workspaces.audit import record_audit

    owner = people[Role.OWNER]
    for i in range(60):
        record_audit(workspace=workspace, actor=owner, action="member.added", target=f"p{i}")
    record_audit(workspace=workspace, actor=None, action="defaults.changed", target="Acme")
    client = client_for(owner)
    first = client.get(page(workspace, "audit")).content.decode()
    assert first.count("data-audit-action=") == 50
    assert first.index("defaults.changed") < first.index("p59")
    assert "Page 1 of 2" in first
    second = client.get(page(workspace, "audit") + "?page=2").content.decode()
    assert second.count("data-audit-action=") == 11
    filtered = client.get(page(workspace, "audit") + "?action=defaults.changed").content.decode()
    assert filtered.count("data-audit-action=") == 1
    none = client.get(page(workspace, "audit") + "?action=nope&page=zz")
    assert none.status_code == 200 and "No “nope” changes" in none.content.decode()


def test_audit_details_read_as_changes(people, workspace):
    client = client_for(people[Role.OWNER])
    viewer = Membership.objects.get(user=people[Role.VIEWER])
    client.post(page(workspace, "members", viewer.pk, "role"), {"role": "approver"})
    client.post(page(workspace, "defaults"), {"default_model": "openai/gpt-4o", "max_cost": "2"})
    html = client.get(page(workspace, "audit")).content.decode()
    assert "viewer → approver" in html
    assert "none → openai/gpt-4o" in html and "none → 2.0" in html
    assert "{&#x27;" not in html  # no Python dict shown raw


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("members/invite", "who=a%00b&role=viewer"),
        ("tokens/create", "name=a%00b&expiry=7"),
        ("defaults", "default_model=a%00b&max_cost=1"),
    ],
)
def test_a_nul_byte_in_a_form_is_a_clear_error_not_a_500(people, workspace, name, body):
    response = client_for(people[Role.OWNER]).post(
        f"/settings/{workspace.pk}/{name}/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 422
    assert "cannot be stored" in response.content.decode()


def test_a_nul_byte_in_the_audit_filter_is_a_clear_error(people, workspace):
    response = client_for(people[Role.OWNER]).get(page(workspace, "audit") + "?action=a%00b")
    assert response.status_code == 422 and "cannot be stored" in response.content.decode()

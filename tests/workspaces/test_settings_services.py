"""Settings services: members (invite, role, remove, last owner), tokens (expiry, revoke) and the
workspace defaults, each change audited; and the audit log itself."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.domain import Conflict, Invalid, NotAllowed, NotFound, Unauthenticated
from workspaces import services
from workspaces.audit import record_audit
from workspaces.models import ApiToken, AuditEvent, Membership, Role


@pytest.fixture
def owner(member):
    return member(Role.OWNER, "olive")


def actions(workspace) -> list[tuple[str, str]]:
    return [(e.action, e.target) for e in AuditEvent.objects.filter(workspace=workspace)]


# ---- members ----------------------------------------------------------------------------------


def test_invite_by_username_or_email_adds_the_member_with_the_role(owner, workspace, make_user):
    make_user("sam", email="Sam@Example.com")
    make_user("pat")
    by_email = services.member_invite(
        actor=owner, workspace_id=workspace.pk, who="sam@example.com", role=Role.APPROVER
    )
    by_name = services.member_invite(
        actor=owner, workspace_id=workspace.pk, who="PAT", role=Role.VIEWER
    )
    assert (by_email.user.username, by_email.role) == ("sam", "approver")
    assert (by_name.user.username, by_name.role) == ("pat", "viewer")
    assert actions(workspace) == [("member.added", "pat"), ("member.added", "sam")]
    assert AuditEvent.objects.filter(target="sam").get().detail == {"role": "approver"}
    assert AuditEvent.objects.filter(target="sam").get().actor == owner


def test_invite_of_an_unknown_user_says_so_and_adds_nothing(owner, workspace):
    with pytest.raises(Invalid) as caught:
        services.member_invite(actor=owner, workspace_id=workspace.pk, who="ghost", role="viewer")
    assert "No user with that username or email" in caught.value.detail
    assert caught.value.code == "user_not_found"
    assert Membership.objects.filter(workspace=workspace).count() == 1
    assert actions(workspace) == []


@pytest.mark.parametrize("role", ["", "admin", "OWNER", "superuser"])
def test_invite_with_an_unknown_role_is_refused(owner, workspace, make_user, role):
    make_user("sam")
    with pytest.raises(Invalid):
        services.member_invite(actor=owner, workspace_id=workspace.pk, who="sam", role=role)


def test_invite_of_a_member_already_there_is_a_conflict(owner, workspace, member):
    member(Role.VIEWER, "vic")
    with pytest.raises(Conflict):
        services.member_invite(actor=owner, workspace_id=workspace.pk, who="vic", role="editor")
    assert Membership.objects.get(user__username="vic").role == "viewer"


def test_an_inactive_user_cannot_be_invited(owner, workspace, make_user):
    make_user("gone", is_active=False)
    with pytest.raises(Invalid):
        services.member_invite(actor=owner, workspace_id=workspace.pk, who="gone", role="viewer")


@pytest.mark.parametrize("role", [Role.EDITOR, Role.APPROVER, Role.VIEWER])
def test_only_owners_manage_members(member, workspace, make_user, role):
    actor = member(role, "actor")
    target = member(Role.VIEWER, "target")
    make_user("sam")
    membership = Membership.objects.get(user=target)
    with pytest.raises(NotAllowed):
        services.member_invite(actor=actor, workspace_id=workspace.pk, who="sam", role="viewer")
    with pytest.raises(NotAllowed):
        services.member_set_role(
            actor=actor, workspace_id=workspace.pk, membership_id=membership.pk, role="owner"
        )
    with pytest.raises(NotAllowed):
        services.member_remove(actor=actor, workspace_id=workspace.pk, membership_id=membership.pk)
    membership.refresh_from_db()
    assert membership.role == "viewer" and actions(workspace) == []


def test_a_non_member_gets_not_found(make_user, workspace, member, other_workspace):
    stranger = make_user("stranger")
    Membership.objects.create(workspace=other_workspace, user=stranger, role=Role.OWNER)
    target = Membership.objects.get(user=member(Role.VIEWER, "target"))
    with pytest.raises(NotFound):
        services.member_remove(actor=stranger, workspace_id=workspace.pk, membership_id=target.pk)
    # An owner elsewhere cannot reach this workspace's members through their own workspace.
    with pytest.raises(NotFound):
        services.member_remove(
            actor=stranger, workspace_id=other_workspace.pk, membership_id=target.pk
        )
    assert Membership.objects.filter(pk=target.pk).exists()


def test_role_change_is_audited_with_before_and_after(owner, workspace, member):
    target = Membership.objects.get(user=member(Role.VIEWER, "vic"))
    services.member_set_role(
        actor=owner, workspace_id=workspace.pk, membership_id=target.pk, role="approver"
    )
    target.refresh_from_db()
    assert target.role == "approver"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.target == "vic" and event.detail == {"from": "viewer", "to": "approver"}


def test_the_last_owner_can_be_neither_demoted_nor_removed(owner, workspace):
    mine = Membership.objects.get(user=owner)
    with pytest.raises(Conflict) as demoted:
        services.member_set_role(
            actor=owner, workspace_id=workspace.pk, membership_id=mine.pk, role="editor"
        )
    assert demoted.value.code == "last_owner"
    with pytest.raises(Conflict) as removed:
        services.member_remove(actor=owner, workspace_id=workspace.pk, membership_id=mine.pk)
    assert removed.value.code == "last_owner"
    mine.refresh_from_db()
    assert mine.role == "owner" and actions(workspace) == []


def test_with_a_second_owner_an_owner_can_step_down(owner, workspace, member):
    second = Membership.objects.get(user=member(Role.OWNER, "otto"))
    mine = Membership.objects.get(user=owner)
    services.member_set_role(
        actor=owner, workspace_id=workspace.pk, membership_id=mine.pk, role="editor"
    )
    # Now otto is the last owner, and stays one.
    with pytest.raises(Conflict):
        services.member_remove(
            actor=second.user, workspace_id=workspace.pk, membership_id=second.pk
        )
    services.member_remove(actor=second.user, workspace_id=workspace.pk, membership_id=mine.pk)
    assert list(Membership.objects.filter(workspace=workspace).values_list("role", flat=True)) == [
        "owner"
    ]
    assert [a for a, _ in actions(workspace)] == ["member.removed", "member.role_changed"]


# ---- tokens -----------------------------------------------------------------------------------


def test_token_expiry_choices():
    now = timezone.now()
    assert services.token_expiry(choice="never", now=now) is None
    assert services.token_expiry(choice="7", now=now) == now + timedelta(days=7)
    assert services.token_expiry(choice="90", now=now) == now + timedelta(days=90)
    day = (now + timedelta(days=3)).date()
    custom = services.token_expiry(choice="custom", custom=day.isoformat(), now=now)
    assert custom.date() == day and (custom.hour, custom.minute) == (23, 59)


@pytest.mark.parametrize(
    ("choice", "custom"),
    [("", ""), ("365", ""), ("custom", ""), ("custom", "tomorrow"), ("custom", "2001-01-01")],
)
def test_token_expiry_refuses_bad_choices(choice, custom):
    with pytest.raises(Invalid):
        services.token_expiry(choice=choice, custom=custom)


def test_token_create_stores_a_hash_and_audits_in_each_of_the_users_workspaces(
    member, workspace, other_workspace
):
    user = member(Role.VIEWER, "vic")
    Membership.objects.create(workspace=other_workspace, user=user, role=Role.EDITOR)
    token, raw = services.token_create(user=user, name="ci", expires_at=None)
    assert raw.startswith("sb_") and token.token_hash != raw
    assert raw not in str(list(ApiToken.objects.values()))
    for ws in (workspace, other_workspace):
        event = AuditEvent.objects.get(workspace=ws, action="token.created")
        assert event.target == "ci" and raw not in str(event.detail)


def test_an_expired_token_is_refused_with_its_expiry_date(make_user):
    user = make_user("integrator")
    token, raw = services.token_create(
        user=user, name="ci", expires_at=timezone.now() + timedelta(days=1)
    )
    assert services.token_check(raw) == user
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(Unauthenticated) as caught:
        services.token_check(raw)
    assert caught.value.detail.startswith("This API token expired on ")
    assert services.token_authenticate(raw) is None


def test_a_revoked_token_is_refused_and_revoking_is_idempotent(make_user, workspace):
    user = make_user("integrator")
    Membership.objects.create(workspace=workspace, user=user, role=Role.EDITOR)
    token, raw = services.token_create(user=user, name="ci")
    services.token_revoke(user=user, token_id=token.pk)
    services.token_revoke(user=user, token_id=token.pk)
    with pytest.raises(Unauthenticated) as caught:
        services.token_check(raw)
    assert "was revoked on" in caught.value.detail
    assert [a for a, _ in actions(workspace)] == ["token.revoked", "token.created"]


def test_nobody_revokes_someone_elses_token(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    token, _ = services.token_create(user=alice, name="ci")
    with pytest.raises(NotFound):
        services.token_revoke(user=bob, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_create_refuses_a_past_expiry_and_a_blank_name(make_user):
    user = make_user("integrator")
    with pytest.raises(Invalid):
        services.token_create(user=user, name="ci", expires_at=timezone.now())
    with pytest.raises(Invalid):
        services.token_create(user=user, name="   ")
    assert not ApiToken.objects.exists()


# ---- defaults and the audit log ---------------------------------------------------------------


def test_defaults_update_saves_and_audits_only_what_changed(owner, workspace):
    services.workspace_defaults_update(
        actor=owner,
        workspace_id=workspace.pk,
        default_model="openai/gpt-4o",
        max_cost=0.5,
        max_tokens=None,
    )
    workspace.refresh_from_db()
    assert (workspace.default_model, workspace.default_max_cost) == ("openai/gpt-4o", 0.5)
    event = AuditEvent.objects.get(action="defaults.changed")
    assert event.detail == {
        "from": {"default_model": "", "max_cost": None},
        "to": {"default_model": "openai/gpt-4o", "max_cost": 0.5},
    }
    # Saving the same values again records nothing.
    services.workspace_defaults_update(
        actor=owner,
        workspace_id=workspace.pk,
        default_model="openai/gpt-4o",
        max_cost=0.5,
        max_tokens=None,
    )
    assert AuditEvent.objects.filter(action="defaults.changed").count() == 1


@pytest.mark.parametrize(
    ("model", "cost", "tokens"),
    [
        ("a b", None, None),
        ("x" * 201, None, None),
        ("", 0, None),
        ("", -1, None),
        ("", 10_001, None),
        ("", None, 0),
        ("", None, 10**10),
    ],
)
def test_defaults_update_refuses_bad_values(owner, workspace, model, cost, tokens):
    with pytest.raises(Invalid):
        services.workspace_defaults_update(
            actor=owner,
            workspace_id=workspace.pk,
            default_model=model,
            max_cost=cost,
            max_tokens=tokens,
        )


@pytest.mark.parametrize("role", [Role.EDITOR, Role.APPROVER, Role.VIEWER])
def test_only_owners_change_defaults_and_read_the_audit_log(member, workspace, role):
    actor = member(role, "actor")
    with pytest.raises(NotAllowed):
        services.workspace_defaults_update(
            actor=actor, workspace_id=workspace.pk, default_model="", max_cost=1, max_tokens=None
        )
    with pytest.raises(NotAllowed):
        services.audit_events(actor=actor, workspace_id=workspace.pk)


def test_audit_refuses_secret_looking_detail(owner, workspace):
    with pytest.raises(ValueError):
        record_audit(workspace=workspace, actor=owner, action="x", detail={"token": "sb_abc"})
    with pytest.raises(ValueError):
        record_audit(
            workspace=workspace, actor=owner, action="x", detail={"to": {"value": "hunter2"}}
        )
    assert not AuditEvent.objects.exists()


def test_audit_events_are_newest_first_and_filter_by_action(owner, workspace, other_workspace):
    record_audit(workspace=workspace, actor=owner, action="member.added", target="a")
    record_audit(workspace=workspace, actor=owner, action="token.created", target="b")
    record_audit(workspace=workspace, actor=None, action="member.added", target="c")
    record_audit(workspace=other_workspace, actor=None, action="member.added", target="z")
    events = services.audit_events(actor=owner, workspace_id=workspace.pk)
    assert [e.target for e in events] == ["c", "b", "a"]
    added = services.audit_events(actor=owner, workspace_id=workspace.pk, action="member.added")
    assert [e.target for e in added] == ["c", "a"]

"""Querysets compiled once (config.prepared): the same instances as the queryset, for any
values, with one statement per call and no query building after the first."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from builder.models import Flow, FlowVersion
from builder.services import _flow_with_role
from config.prepared import prepared, prepared_first
from workspaces.models import ApiToken, Membership, Role, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_members():
    users = get_user_model()
    alice = users.objects.create_user("alice-p", password="pw-123456789")
    bob = users.objects.create_user("bob-p", password="pw-123456789")
    workspace = Workspace.objects.create(name="P", slug="p-prepared")
    Membership.objects.create(user=alice, workspace=workspace, role=Role.OWNER)
    Membership.objects.create(user=bob, workspace=workspace, role=Role.VIEWER)
    flows = [
        Flow.objects.create(workspace=workspace, name=f"F{i}", graph={"nodes": [i]})
        for i in range(3)
    ]
    return alice, bob, flows


def test_rows_are_what_the_queryset_gives_with_relations_and_annotations(two_members):
    alice, bob, flows = two_members
    for user in (alice, bob):
        for flow in flows:
            got = prepared_first("test.flow_with_role", _flow_with_role, user.pk, flow.pk)
            want = _flow_with_role(user.pk, flow.pk).first()
            assert got == want
            assert got.viewer_role == want.viewer_role == Membership.objects.get(user=user).role
            # select_related: the workspace came in the same statement.
            with CaptureQueriesContext(connection) as queries:
                assert got.workspace.slug == "p-prepared"
            assert len(queries) == 0
            # JSON and datetimes through the field's converters, as the ORM reads them.
            assert got.graph == want.graph and got.created_at == want.created_at


def test_no_match_and_ids_no_column_holds_give_nothing(two_members):
    alice, _, flows = two_members
    stranger = get_user_model().objects.create_user("carol-p", password="pw-123456789")
    assert prepared_first("test.flow_with_role", _flow_with_role, stranger.pk, flows[0].pk) is None
    for huge in (2**63, -(2**63) - 1, 10**30):
        assert prepared("test.flow_with_role", _flow_with_role, alice.pk, huge) == []
    # Deleted flows stay out, as through `visible_to`.
    flows[1].deleted_at = timezone.now()
    flows[1].save()
    assert prepared_first("test.flow_with_role", _flow_with_role, alice.pk, flows[1].pk) is None


def test_text_arguments_and_one_statement_per_call(two_members):
    alice, _, _ = two_members
    tokens = [ApiToken.issue(user=alice, name=f"t{i}") for i in range(3)]

    def by_hash(digest):
        return ApiToken.objects.select_related("user").filter(token_hash=digest).order_by("pk")[:1]

    prepared_first("test.token", by_hash, "warm")
    for token, _raw in tokens:
        with CaptureQueriesContext(connection) as queries:
            got = prepared_first("test.token", by_hash, token.token_hash)
        assert len(queries) == 1
        assert got.pk == token.pk and got.user.username == "alice-p"
    assert prepared_first("test.token", by_hash, "no-such-hash") is None


def test_ordering_and_limit_are_kept(two_members):
    _, _, flows = two_members
    flow = flows[0]
    for number in (1, 3, 2):
        FlowVersion.objects.create(
            flow=flow,
            number=number,
            graph={},
            published=True,
            created_at=timezone.now() + timedelta(seconds=number),
        )
    FlowVersion.objects.create(flow=flow, number=4, graph={}, published=False)
    assert flow.published_version.number == 3
    assert flow.published_version.flow is flow  # no second read for the flow
    assert flows[1].published_version is None


def test_a_lookup_that_changes_its_value_is_refused():
    def contains(text):
        return Flow.objects.filter(name__contains=text)[:1]

    with pytest.raises(ValueError, match="did not reach the SQL"):
        prepared("test.contains", contains, "abc")

"""Authenticating writes as little as possible: a token's last use at most once a minute, a
session nothing at all (every write on SQLite waits for the one write lock)."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import Api
from workspaces.models import ApiToken

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith(WRITES)]


def token_updates(queries: CaptureQueriesContext) -> list[str]:
    table = ApiToken._meta.db_table
    return [sql for sql in writes(queries) if sql.startswith("UPDATE") and table in sql]


def test_token_use_is_written_once_for_two_calls_within_a_minute(make_user):
    token, raw = ApiToken.issue(user=make_user("integrator"), name="ci")
    api = Api(token=raw)
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/tokens").status_code == 200
        assert api.get("/api/tokens").status_code == 200
    assert len(token_updates(queries)) == 1
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_token_use_is_written_again_after_a_minute(make_user):
    token, raw = ApiToken.issue(user=make_user("integrator"), name="ci")
    earlier = timezone.now() - timedelta(seconds=61)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    with CaptureQueriesContext(connection) as queries:
        assert Api(token=raw).get("/api/tokens").status_code == 200
    assert len(token_updates(queries)) == 1
    token.refresh_from_db()
    assert token.last_used_at > earlier


def test_the_conditional_write_changes_nothing_when_another_call_just_recorded_it(make_user):
    from workspaces.services import _token_record_use

    token, _ = ApiToken.issue(user=make_user("integrator"), name="ci")
    stale_copy = ApiToken.objects.get(pk=token.pk)  # read before the other call recorded its use
    recorded = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recorded)
    _token_record_use(stale_copy)
    token.refresh_from_db()
    assert token.last_used_at == recorded


def test_a_session_api_call_writes_nothing(make_user):
    api = Api(user=make_user("designer"))
    api.get("/api/tokens")  # the first request may refresh the session's CSRF cookie
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/tokens").status_code == 200
        assert api.get("/api/workspaces").status_code == 200
    assert writes(queries) == []

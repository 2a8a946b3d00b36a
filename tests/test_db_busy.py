"""A saturated database (SQLite's write lock, an exhausted connection pool) is answered "busy,
retry shortly" with Retry-After: 429 in the API's error shape, a friendly 503 page elsewhere,
never a 500."""

import pytest
from django.db import OperationalError
from psycopg_pool import PoolTimeout

from config.errors import is_busy
from tests.conftest import Api
from workspaces.models import ApiToken, Membership


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def locked() -> OperationalError:
    return OperationalError("database is locked")


def pool_exhausted() -> OperationalError:
    # What Django raises: its own error, with the driver's (here the pool's) as the cause.
    try:
        try:
            raise PoolTimeout("couldn't get a connection after 10.00 sec")
        except PoolTimeout as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("exc", "busy"),
    [
        (locked(), True),
        (OperationalError("database table is locked: runs_run"), True),
        (pool_exhausted(), True),
        (PoolTimeout("couldn't get a connection after 1.00 sec"), True),
        (OperationalError("FATAL:  sorry, too many clients already"), True),
        (OperationalError("no such table: runs_run"), False),
        (ValueError("database is locked"), False),
    ],
)
def test_is_busy_recognises_saturation_only(exc, busy):
    assert is_busy(exc) is busy


@pytest.mark.parametrize("error", [locked, pool_exhausted], ids=["sqlite_locked", "pool_timeout"])
def test_an_api_call_on_a_busy_database_answers_429_with_retry_after(monkeypatch, make_user, error):
    _, raw = ApiToken.issue(user=make_user("integrator"), name="ci")

    def busy(raw: str):
        raise error()

    monkeypatch.setattr("workspaces.auth.token_check", busy)
    response = Api(token=raw).get("/api/tokens")
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "busy" and response.json()["detail"]


def test_an_api_view_failing_busy_answers_429(monkeypatch, make_user):
    def busy(*args, **kwargs):
        raise locked()

    monkeypatch.setattr(Membership.objects, "filter", busy)
    response = Api(user=make_user("designer")).get("/api/workspaces")
    assert response.status_code == 429 and response["Retry-After"] == "1"
    assert response.json()["code"] == "busy"


def test_other_database_errors_stay_server_errors(monkeypatch, make_user):
    def broken(*args, **kwargs):
        raise OperationalError("no such table: workspaces_workspace")

    monkeypatch.setattr(Membership.objects, "filter", broken)
    response = Api(user=make_user("designer")).get("/api/workspaces")
    assert response.status_code == 500 and response.json()["code"] == "server_error"


def test_a_page_on_a_busy_database_is_a_friendly_503(monkeypatch, client, make_user):
    client.force_login(make_user("designer"))

    def busy(request):
        raise locked()

    monkeypatch.setattr("builder.views._current_membership", busy)
    response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    page = response.content.decode()
    assert "busy for a moment" in page and 'http-equiv="refresh"' in page


def test_a_form_post_on_a_busy_database_does_not_resend_itself(monkeypatch, client, make_user):
    make_user("dana")

    def busy(*args, **kwargs):
        raise locked()

    monkeypatch.setattr("django.contrib.auth.forms.authenticate", busy)
    response = client.post("/login/", {"username": "dana", "password": "pw-dana"})
    assert response.status_code == 503
    assert 'http-equiv="refresh"' not in response.content.decode()


def test_a_busy_error_outside_a_view_is_a_503_and_others_stay_500(rf):
    """Django's 500 handler (an error in a middleware, not a view) still says "retry shortly"."""
    from django.urls import get_resolver

    from config.middleware import server_error

    handler = get_resolver().resolve_error_handler(500)
    assert handler is server_error
    try:
        raise locked()
    except OperationalError:
        busy = handler(rf.get("/flows/"))
    assert busy.status_code == 503 and busy["Retry-After"] == "1"
    try:
        raise OperationalError("no such table: runs_run")
    except OperationalError:
        broken = handler(rf.get("/flows/"))
    assert broken.status_code == 500

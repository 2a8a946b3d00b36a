"""Login throttling (django-axes) through the real login form: after AXES_FAILURE_LIMIT wrong
passwords the username is locked out from that address for the cool-off, even with the right
password: the page says so, with 429 and Retry-After. A successful login resets the count."""

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client

LIMIT = 5


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def dana(make_user):
    return make_user("dana")


def browser(address: str = "203.0.113.7") -> Client:
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=address)


def log_in(client: Client, username: str, password: str):
    """Fill in and send the login form as a browser does: its CSRF token included."""
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    return client.post(
        "/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
    )


def fail(client: Client, username: str, times: int) -> None:
    for _ in range(times):
        response = log_in(client, username, "wrong")
        assert response.status_code == 200
        assert "did not match" in response.content.decode()


def assert_locked(response, *, max_seconds: int = 15 * 60) -> None:
    assert response.status_code == 429
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= max_seconds
    html = response.content.decode()
    assert "Too many failed attempts" in html and "try again in" in html
    assert 'name="password"' in html  # still the login page, with its form


def test_failures_lock_the_username_out_even_with_the_right_password(client, dana):
    me = browser()
    fail(me, "dana", LIMIT - 1)
    # The LIMIT-th failure is answered with the lockout already.
    assert_locked(log_in(me, "dana", "wrong"))
    response = log_in(me, "dana", "pw-dana")
    assert_locked(response)
    assert "15 minutes" in response.content.decode()
    assert "_auth_user_id" not in me.session
    assert me.get("/").status_code == 302  # not logged in


def test_a_successful_login_resets_the_count(dana):
    me = browser()
    fail(me, "dana", LIMIT - 1)
    assert log_in(me, "dana", "pw-dana").status_code == 302
    again = browser()  # the same address, signed out
    fail(again, "dana", LIMIT - 1)
    assert log_in(again, "dana", "pw-dana").status_code == 302


def test_the_lockout_is_of_the_username_from_that_address(make_user, dana):
    make_user("erin")
    attacker = browser("198.51.100.9")
    fail(attacker, "dana", LIMIT - 1)
    assert_locked(log_in(attacker, "dana", "wrong"))
    assert_locked(log_in(attacker, "dana", "pw-dana"))
    # Someone else from the same address, and dana from her own, still log in.
    assert log_in(browser("198.51.100.9"), "erin", "pw-erin").status_code == 302
    assert log_in(browser("192.0.2.44"), "dana", "pw-dana").status_code == 302


def test_after_the_cool_off_the_right_password_gets_in(settings, dana):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=2)
    me = browser()
    fail(me, "dana", LIMIT - 1)
    assert_locked(log_in(me, "dana", "wrong"), max_seconds=120)
    locked = log_in(me, "dana", "pw-dana")
    assert_locked(locked, max_seconds=120)
    assert "seconds" in locked.content.decode() or "2 minutes" in locked.content.decode()
    # Two minutes pass (the attempt is dated back rather than waited for).
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=3)
    )
    assert log_in(me, "dana", "pw-dana").status_code == 302


def test_the_admin_login_is_throttled_too(dana):
    dana.is_staff = True
    dana.save()
    me = browser()
    for _ in range(LIMIT):
        page = me.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
        me.post(
            "/admin/login/",
            {"username": "dana", "password": "wrong", "csrfmiddlewaretoken": token.group(1)},
        )
    assert_locked(log_in(me, "dana", "pw-dana"))

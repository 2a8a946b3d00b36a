"""Login lockout in the browser: wrong passwords, then the login page says when to try again,
and the right password does not get in meanwhile."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_too_many_wrong_passwords_pause_logging_in(page, make_user, artifacts, settings):
    make_user("dana")
    page.goto("/login/")
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        page.get_by_label("Username").fill("dana")
        page.get_by_label("Password").fill(f"wrong-{attempt}")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("did not match")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("wrong-again")
    with page.expect_response(
        lambda r: r.url.endswith("/login/") and r.request.method == "POST"
    ) as info:
        page.get_by_role("button", name="Log in").click()
    assert info.value.status == 429 and int(info.value.headers["retry-after"]) > 0
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too many failed attempts")
    expect(alert).to_contain_text("try again in 15 minutes")
    expect(page.get_by_label("Username")).to_have_value("dana")
    page.screenshot(path=str(artifacts / "login-locked-out.png"))

    page.get_by_label("Password").fill("pw-dana")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed attempts")
    assert "/login/" in page.url

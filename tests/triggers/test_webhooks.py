"""Incoming webhooks: a signed POST starts a run; anything else is refused and starts nothing."""

import json
import time

import pytest

from builder.models import Flow
from builder.services import flow_duplicate
from runs.models import Run
from tests.conftest import Api
from triggers import signing
from triggers.models import Webhook
from triggers.services import webhook_enable, webhook_secret

BODY = {"city": "Porto", "nights": 2, "nightly_rate": 90}


@pytest.fixture
def hook(trip, demo):
    return webhook_enable(flow=trip, user=demo["owner"])


def post(client, hook, body, *, secret=None, header=None, timestamp=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if header is None and secret is not False:
        header = signing.sign(secret or webhook_secret(hook), raw, timestamp)
    if header:
        headers[signing.HEADER] = header
    return client.post(
        f"/hooks/{hook.public_id}/", data=raw, content_type="application/json", headers=headers
    )


def test_a_signed_request_starts_a_run_of_the_published_version(
    client, hook, trip, inline, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, hook, BODY)
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.trigger == "webhook"
    assert run.inputs == BODY
    assert run.version == trip.published_version
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    hook.refresh_from_db()
    assert hook.last_called_at is not None


@pytest.mark.parametrize(
    "tamper",
    ["no header", "wrong secret", "old timestamp", "changed body", "garbage header", "no v1"],
)
def test_a_bad_signature_gets_401_and_starts_nothing(client, hook, tamper):
    raw = json.dumps(BODY).encode()
    secret = webhook_secret(hook)
    header = {
        "no header": "",
        "wrong secret": signing.sign("whsec_not-the-secret", raw),
        "old timestamp": signing.sign(secret, raw, int(time.time()) - 3600),
        "changed body": signing.sign(secret, json.dumps({**BODY, "nights": 9}).encode()),
        "garbage header": "sha256=deadbeef",
        "no v1": f"t={int(time.time())}",
    }[tamper]
    response = client.post(
        f"/hooks/{hook.public_id}/",
        data=raw,
        content_type="application/json",
        headers={signing.HEADER: header} if header else {},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert not Run.objects.exists()


def test_a_new_secret_replaces_the_old_one(client, hook, trip, api_for, demo):
    old = webhook_secret(hook)
    api = api_for(demo["owner"])
    new = api.post(f"/api/flows/{trip.pk}/webhook/rotate").json()["secret"]
    assert new != old
    assert post(client, hook, BODY, secret=old).status_code == 401
    hook.refresh_from_db()
    assert post(client, hook, BODY, secret=new).status_code == 202


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 422, "invalid_body"),
        (b"[1, 2]", 422, "invalid_body"),
        (json.dumps({"city": "Porto"}).encode(), 422, "invalid_inputs"),
        (b"{" + b'"x": "' + b"a" * 300_000 + b'"}', 413, "too_large"),
    ],
)
def test_a_body_that_does_not_fit_is_refused_and_starts_nothing(client, hook, body, status, code):
    response = post(client, hook, body)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert not Run.objects.exists()


def test_unknown_and_disabled_hooks_are_404_and_get_is_405(client, hook, trip, api_for, demo):
    assert (
        client.post("/hooks/nope/", data=b"{}", content_type="application/json").status_code == 404
    )
    assert client.get(f"/hooks/{hook.public_id}/").status_code == 405
    api_for(demo["owner"]).delete(f"/api/flows/{trip.pk}/webhook")
    assert post(client, hook, BODY).status_code == 404
    assert not Run.objects.exists()


def test_an_unpublished_flow_answers_409(client, demo):
    flow = flow_duplicate(
        flow=Flow.objects.get(workspace=demo["workspace"], name="Trip budget"), user=demo["owner"]
    )
    hook = webhook_enable(flow=flow, user=demo["owner"])
    response = post(client, hook, BODY)
    assert response.status_code == 409
    assert response.json()["code"] == "not_published"


def test_a_mapping_picks_inputs_out_of_the_body(client, hook, trip, api_for, demo, inline):
    api = api_for(demo["owner"])
    mapping = {"city": "trip.to", "nights": "trip.length", "nightly_rate": "prices[0]"}
    assert api.put(f"/api/flows/{trip.pk}/webhook/mapping", {"mapping": mapping}).status_code == 200
    hook.refresh_from_db()
    response = post(client, hook, {"trip": {"to": "Faro", "length": 4}, "prices": [80, 95]})
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.inputs == {"city": "Faro", "nights": 4, "nightly_rate": 80}
    bad = api.put(f"/api/flows/{trip.pk}/webhook/mapping", {"mapping": {"city": "trip.["}})
    assert bad.status_code == 422
    hook.refresh_from_db()
    assert hook.mapping == mapping


def test_viewers_see_the_hook_but_not_its_secret_and_cannot_change_it(trip, hook, demo, make_user):
    from workspaces.models import Membership

    viewer = make_user("viewer-v")
    Membership.objects.create(workspace=demo["workspace"], user=viewer, role="viewer")
    api = Api(viewer)
    seen = api.get(f"/api/flows/{trip.pk}/webhook")
    assert seen.status_code == 200
    assert seen.json()["secret"] is None
    assert webhook_secret(hook) not in seen.content.decode()
    assert api.post(f"/api/flows/{trip.pk}/webhook/rotate").status_code == 403
    assert api.post(f"/api/flows/{trip.pk}/schedules", {"cron": "0 9 * * *"}).status_code == 403
    page = api.client.get(f"/flows/{trip.pk}/triggers/")
    assert page.status_code == 200
    assert webhook_secret(hook) not in page.content.decode()
    assert 'name="action"' not in page.content.decode()


def test_another_workspace_cannot_see_a_flows_triggers(trip, make_user, other_workspace):
    from workspaces.models import Membership

    stranger = make_user("stranger")
    Membership.objects.create(workspace=other_workspace, user=stranger, role="owner")
    api = Api(stranger)
    assert api.get(f"/api/flows/{trip.pk}/schedules").status_code == 404
    assert api.get(f"/api/flows/{trip.pk}/webhook").status_code == 404
    assert api.client.get(f"/flows/{trip.pk}/triggers/").status_code == 404
    assert api.client.get("/flows/99999999999999999999999/triggers/").status_code == 404


def test_schedules_over_the_api(trip, demo, api_for):
    api = api_for(demo["owner"])
    made = api.post(
        f"/api/flows/{trip.pk}/schedules",
        {"cron": "30 8 * * 1-5", "timezone": "Europe/Lisbon", "name": "Weekday"},
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["enabled"] and len(body["upcoming"]) == 3
    bad = api.post(f"/api/flows/{trip.pk}/schedules", {"cron": "every day"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cron"
    paused = api.patch(f"/api/flows/{trip.pk}/schedules/{body['id']}", {"enabled": False})
    assert paused.json()["enabled"] is False and paused.json()["next_run_at"] is None
    assert api.delete(f"/api/flows/{trip.pk}/schedules/{body['id']}").status_code == 204
    assert api.get(f"/api/flows/{trip.pk}/schedules").json() == []


def test_the_triggers_page_adds_a_schedule_and_keeps_a_bad_one_for_fixing(trip, demo, client):
    client.force_login(demo["owner"])
    url = f"/flows/{trip.pk}/triggers/"
    page = client.get(url)
    assert page.status_code == 200 and "No schedules" in page.content.decode()
    bad = client.post(
        url, {"action": "add_schedule", "preset": "custom", "cron": "61 * * * *", "name": "Oops"}
    )
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "can&#x27;t be read" in html or "can't be read" in html
    assert 'value="Oops"' in html and 'value="61 * * * *"' in html
    added = client.post(
        url,
        {
            "action": "add_schedule",
            "preset": "weekdays",
            "timezone": "Europe/Paris",
            "input_city": "Nice",
            "input_nights": "2",
            "input_nightly_rate": "110.5",
        },
        follow=True,
    )
    assert added.status_code == 200
    assert "Schedule added." in added.content.decode()
    from triggers.models import Schedule

    schedule = Schedule.objects.get()
    assert schedule.cron == "0 9 * * 1-5" and schedule.timezone == "Europe/Paris"
    assert schedule.inputs == {"city": "Nice", "nights": 2, "nightly_rate": 110.5}
    webhook_on = client.post(url, {"action": "webhook_on"}, follow=True)
    assert Webhook.objects.filter(flow=trip, enabled=True).exists()
    assert webhook_secret(Webhook.objects.get(flow=trip)) in webhook_on.content.decode()

"""The schedules API the editor's Triggers panel uses: edit a schedule in place, errors named by
field in plain words (never a 500), viewers read only, other workspaces see nothing."""

import pytest

from triggers.models import Schedule
from workspaces.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_api(api_for, demo):
    return api_for(demo["owner"])


@pytest.fixture
def schedule(owner_api, trip):
    response = owner_api.post(
        f"/api/flows/{trip.pk}/schedules", {"cron": "0 9 * * 1-5", "timezone": "UTC"}
    )
    assert response.status_code == 201, response.content
    return response.json()


def url(flow, *rest):
    return "/".join([f"/api/flows/{flow.pk}/schedules", *map(str, rest)])


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"cron": "0 9 * *"}, "invalid_cron", "cron"),
        ({"cron": "61 9 * * *"}, "invalid_cron", "cron"),
        ({"cron": "* * * * * *"}, "invalid_cron", "cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "invalid_timezone", "timezone"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(owner_api, trip, schedule, body, code, field):
    for response in (
        owner_api.post(url(trip), body),
        owner_api.patch(url(trip, schedule["id"]), body),
    ):
        assert response.status_code == 422, response.content
        error = response.json()
        assert error["code"] == code and error["field"] == field
        assert isinstance(error["detail"], str) and error["detail"]
    assert Schedule.objects.get(pk=schedule["id"]).cron == "0 9 * * 1-5"


def test_a_schedule_is_edited_in_place_and_retimed(owner_api, trip, schedule):
    response = owner_api.patch(
        url(trip, schedule["id"]),
        {"cron": "30  7 * * *", "timezone": "Europe/Paris", "missed": "skip", "name": "Morning"},
    )
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["cron"] == "30 7 * * *" and changed["timezone"] == "Europe/Paris"
    assert changed["missed"] == "skip" and changed["name"] == "Morning"
    assert changed["next_run_at"] != schedule["next_run_at"]
    assert len(changed["upcoming"]) == 3
    paused = owner_api.patch(url(trip, schedule["id"]), {"enabled": False}).json()
    assert paused["enabled"] is False and paused["next_run_at"] is None
    listed = owner_api.get(url(trip)).json()
    assert [s["cron"] for s in listed] == ["30 7 * * *"]


def test_unknown_fields_and_bad_choices_are_4xx_not_500(owner_api, trip, schedule):
    for body in ({"missed": "twice"}, {"cron": ""}, {"colour": "red"}, {"enabled": "maybe"}):
        response = owner_api.patch(url(trip, schedule["id"]), body)
        assert response.status_code == 422, (body, response.content)
    assert owner_api.patch(url(trip, 2**40), {"enabled": False}).status_code in (404, 422)
    assert owner_api.patch(url(trip, 999999), {"enabled": False}).status_code == 404


def test_a_viewer_reads_schedules_but_cannot_change_them(api_for, make_user, demo, trip, schedule):
    from workspaces.models import Membership

    viewer = make_user("watcher")
    Membership.objects.create(workspace=demo["workspace"], user=viewer, role=Role.VIEWER)
    api = api_for(viewer)
    assert [s["id"] for s in api.get(url(trip)).json()] == [schedule["id"]]
    assert api.patch(url(trip, schedule["id"]), {"cron": "0 8 * * *"}).status_code == 403
    assert api.post(url(trip), {"cron": "0 8 * * *"}).status_code == 403
    assert api.delete(url(trip, schedule["id"])).status_code == 403
    assert Schedule.objects.get(pk=schedule["id"]).cron == "0 9 * * 1-5"


def test_other_workspaces_and_anonymous_see_nothing(api_for, member, trip, schedule):
    outsider = api_for(member(Role.OWNER, "outsider"))
    assert outsider.get(url(trip)).status_code == 404
    assert outsider.patch(url(trip, schedule["id"]), {"enabled": False}).status_code == 404
    assert api_for(None).get(url(trip)).status_code == 401


def test_the_webhook_secret_is_shown_once_and_never_read_back(api_for, demo, trip):
    api = api_for(demo["owner"])
    created = api.put(f"/api/flows/{trip.pk}/webhook").json()
    assert created["secret"].startswith("whsec_") or created["secret"]
    assert api.get(f"/api/flows/{trip.pk}/webhook").json()["secret"] is None
    assert api.put(f"/api/flows/{trip.pk}/webhook").json()["secret"] is None
    rotated = api.post(f"/api/flows/{trip.pk}/webhook/rotate").json()["secret"]
    assert rotated and rotated != created["secret"]
    assert api.get(f"/api/flows/{trip.pk}/webhook").json()["secret"] is None

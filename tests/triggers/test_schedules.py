"""Schedules fire under a fake clock: time zones and DST, missed runs, one run per due time."""

from datetime import UTC, datetime, timedelta

import pytest

from builder.models import Flow
from builder.services import flow_duplicate
from config.domain import Invalid
from runs.executor import InlineExecutor
from runs.models import Run
from runs.services.recovery import sweep
from triggers import cron
from triggers.models import Schedule
from triggers.services import _fire, fire_due_schedules, schedule_create, schedule_set_enabled


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "tz", "code"),
    [
        ("0 9 * *", "UTC", "invalid_cron"),
        ("* * * * * *", "UTC", "invalid_cron"),
        ("61 9 * * *", "UTC", "invalid_cron"),
        ("0 9 * * mon", "Mars/Olympus", "invalid_timezone"),
    ],
)
def test_unusable_schedules_are_refused_with_a_reason(expression, tz, code):
    with pytest.raises(Invalid) as caught:
        cron.check(expression, tz)
    assert caught.value.code == code
    assert str(caught.value.detail)


def test_every_minute_is_the_finest_schedule():
    cron.check("* * * * *", "UTC")


def test_next_run_follows_the_time_zone_across_daylight_saving(trip, demo):
    schedule = schedule_create(
        flow=trip,
        user=demo["owner"],
        cron_expression="0 9 * * *",
        tz="Europe/Paris",
        now=at(2026, 3, 27, 12, 0),
    )
    # 09:00 in Paris is 08:00 UTC in winter (CET)...
    assert schedule.next_run_at == at(2026, 3, 28, 8, 0)
    # ...and 07:00 UTC once summer time starts on 29 March.
    assert cron.next_after("0 9 * * *", "Europe/Paris", at(2026, 3, 28, 8, 0)) == at(
        2026, 3, 29, 7, 0
    )


def test_a_due_schedule_starts_one_run_of_the_published_version(trip, demo, inline):
    schedule = schedule_create(
        flow=trip,
        user=demo["owner"],
        cron_expression="0 9 * * *",
        tz="UTC",
        inputs={"city": "Porto", "nights": 2, "nightly_rate": 90},
        now=at(2026, 5, 1, 7, 0),
    )
    assert fire_due_schedules(at(2026, 5, 1, 8, 59)) == []
    started = fire_due_schedules(at(2026, 5, 1, 9, 0, 20))
    assert len(started) == 1
    run = Run.objects.get(pk=started[0])
    assert run.trigger == "schedule"
    assert run.version == trip.published_version
    assert run.inputs == {"city": "Porto", "nights": 2, "nightly_rate": 90}
    assert run.created_by == demo["owner"]
    schedule.refresh_from_db()
    assert schedule.next_run_at == at(2026, 5, 2, 9, 0)
    assert schedule.last_run_id == run.pk and schedule.last_error == ""
    # The same instant again (a second sweeper, a retried pass): nothing more.
    assert fire_due_schedules(at(2026, 5, 1, 9, 0, 20)) == []
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)


def test_two_sweepers_holding_the_same_due_schedule_start_it_once(trip, demo):
    schedule_create(
        flow=trip, user=demo["owner"], cron_expression="*/5 * * * *", now=at(2026, 5, 1, 7, 1)
    )
    seen_by_a = Schedule.objects.get()
    seen_by_b = Schedule.objects.get()
    now = at(2026, 5, 1, 7, 5, 1)
    assert _fire(seen_by_a, now) is not None
    assert _fire(seen_by_b, now) is None
    assert Run.objects.filter(trigger="schedule").count() == 1


@pytest.mark.parametrize(("missed", "runs"), [("once", 1), ("skip", 0)])
def test_runs_missed_while_down_follow_the_policy(trip, demo, missed, runs):
    schedule_create(
        flow=trip,
        user=demo["owner"],
        cron_expression="0 * * * *",
        missed=missed,
        now=at(2026, 5, 1, 7, 30),
    )
    # Down from 07:30 to 10:40 on day 3: 75 hourly runs were due.
    now = at(2026, 5, 4, 10, 40)
    assert len(fire_due_schedules(now)) == runs
    assert fire_due_schedules(now + timedelta(seconds=5)) == []
    assert Schedule.objects.get().next_run_at == at(2026, 5, 4, 11, 0)
    assert Run.objects.filter(trigger="schedule").count() == runs


def test_an_unpublished_flow_starts_nothing_and_says_why(demo):
    flow = flow_duplicate(
        flow=Flow.objects.get(workspace=demo["workspace"], name="Trip budget"), user=demo["owner"]
    )
    assert flow.published_version is None
    schedule_create(
        flow=flow, user=demo["owner"], cron_expression="0 9 * * *", now=at(2026, 5, 1, 7, 0)
    )
    assert fire_due_schedules(at(2026, 5, 1, 9, 0)) == []
    schedule = Schedule.objects.get()
    assert "publish" in schedule.last_error
    assert schedule.next_run_at == at(2026, 5, 2, 9, 0)
    assert not Run.objects.exists()


def test_inputs_that_no_longer_fit_the_flow_are_reported_on_the_schedule(trip, demo):
    schedule_create(
        flow=trip,
        user=demo["owner"],
        cron_expression="0 9 * * *",
        inputs={"city": "Porto", "nights": "many"},
        now=at(2026, 5, 1, 7, 0),
    )
    assert fire_due_schedules(at(2026, 5, 1, 9, 0)) == []
    assert "inputs" in Schedule.objects.get().last_error.lower()


def test_a_paused_schedule_does_not_fire_and_resuming_owes_nothing(trip, demo):
    schedule = schedule_create(
        flow=trip, user=demo["owner"], cron_expression="0 9 * * *", now=at(2026, 5, 1, 7, 0)
    )
    schedule_set_enabled(schedule=schedule, enabled=False)
    assert fire_due_schedules(at(2026, 5, 3, 9, 0)) == []
    schedule_set_enabled(schedule=schedule, enabled=True, now=at(2026, 5, 3, 10, 0))
    assert schedule.next_run_at == at(2026, 5, 4, 9, 0)
    assert fire_due_schedules(at(2026, 5, 3, 10, 0, 5)) == []


def test_the_sweeper_fires_due_schedules_and_kicks_their_runs(trip, demo):
    schedule_create(
        flow=trip, user=demo["owner"], cron_expression="0 9 * * *", now=at(2026, 5, 1, 7, 0)
    )
    kick = sweep(now=at(2026, 5, 1, 9, 0, 3))
    run = Run.objects.get(trigger="schedule")
    assert run.pk in kick

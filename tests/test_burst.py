"""A burst of concurrent run starts against a real daphne (embedded executor): every request is
answered 202 or 429 with Retry-After, never a 5xx, and every accepted run exists and finishes.
On PostgreSQL the server holds at most its pool's connections meanwhile."""

import pytest
from django.db import connection

from builder.models import Flow
from runs.models import Run
from tests.burst import BURST_GRAPH, BurstDaphne, ConnectionSampler, fire, report
from tests.conftest import require_or_skip
from workspaces.models import Membership, Role, Workspace

from .runs.support import (  # noqa: F401
    database_env,
    embedded_env,
    fast_passwords,
    services_logged,
    token_for,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

BURST = 300
POOL_MAX = 12
APP_NAME = "switchboard-burst"


def server_env(llm_base_url: str, **extra: str) -> dict[str, str]:
    # These bursts measure the server and its database, not the per-user rate limit: it is
    # raised out of the way here (test_a_burst_past_the_rate_limit_... puts it back).
    settings = {
        "SWITCHBOARD_SWEEP_SECONDS": "3600",
        "DB_POOL_MAX": str(POOL_MAX),
        "SWITCHBOARD_RATE_RUN_STARTS": "100000/m",
        "SWITCHBOARD_RATE_WRITES": "100000/m",
    }
    return embedded_env(llm_base_url, **{**settings, "PGAPPNAME": APP_NAME, **extra})


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker, _llm_server):
    server = BurstDaphne(server_env(_llm_server.base_url)).start()
    yield server
    server.stop()


@pytest.fixture
def burst_flow(make_user) -> tuple[Flow, str]:
    """A flow to start and a token allowed to start it."""
    owner = make_user("integrator")
    workspace = Workspace.objects.create(name="Burst", slug="burst")
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    flow = Flow.objects.create(workspace=workspace, name="Double", graph=BURST_GRAPH)
    return flow, token_for(owner)


@pytest.fixture
def burst(daphne, burst_flow):
    """The runs URL on the shared server and the token; the runs finish before the flush."""
    flow, token = burst_flow
    yield f"{daphne.http}/api/flows/{flow.pk}/runs", token
    wait_settled(timeout=120)


def fire_burst(url: str, token: str):
    # A draft run: every start also checks the draft snapshot.
    return fire(
        url, token, {"use_draft": True, "inputs": {"n": 21}}, count=BURST, concurrency=BURST
    )


def assert_accepted_or_refused(answers) -> list[int]:
    """Every answer is 202 or a 429 that says when to retry; return the accepted runs' ids,
    which all exist."""
    unexpected = [a for a in answers if a.status not in (202, 429)]
    assert not unexpected, [(a.status, a.body, a.error) for a in unexpected[:5]]
    refused = [a for a in answers if a.status == 429]
    assert all(a.retry_after and int(a.retry_after) > 0 for a in refused)
    assert all(a.body["code"] == "busy" and a.body["detail"] for a in refused)
    accepted = [a.run_id for a in answers if a.status == 202]
    assert accepted, "not one run was accepted"
    assert Run.objects.filter(pk__in=accepted).count() == len(accepted)
    return accepted


def assert_answered_and_nothing_lost(answers) -> None:
    accepted = assert_accepted_or_refused(answers)
    wait_until(
        lambda: Run.objects.filter(pk__in=accepted, status="succeeded").count() == len(accepted),
        timeout=120,
        interval=0.5,
    )
    versions = Run.objects.filter(pk__in=accepted).values_list("version_id", flat=True)
    assert len(set(versions)) == 1, "an unchanged draft is snapshotted once"


def test_a_burst_of_run_starts_answers_202_or_429_never_5xx(daphne, burst):
    url, token = burst
    with services_logged(daphne):
        answers = fire_burst(url, token)
        print(f"\n{connection.vendor} burst of {BURST}: {report(answers)}")
        assert_answered_and_nothing_lost(answers)


@pytest.mark.integration
def test_a_burst_holds_at_most_the_pool_on_postgresql(daphne, burst):
    require_or_skip(connection.vendor == "postgresql", "needs DATABASE_URL=postgres://…")
    url, token = burst
    with services_logged(daphne), ConnectionSampler(database_env()["DATABASE_URL"], APP_NAME) as pg:
        answers = fire_burst(url, token)
    print(
        f"\npostgresql burst of {BURST}: {report(answers)}; peak connections: server "
        f"{pg.peak_app} (pool max {POOL_MAX}), whole database {pg.peak_total}"
    )
    assert 0 < pg.peak_app <= POOL_MAX
    assert_answered_and_nothing_lost(answers)


def test_a_saturated_database_answers_429_with_retry_after_never_5xx(_llm_server, burst_flow):
    """The same burst with the database made scarce on purpose: a 50 ms SQLite busy timeout, or
    a pool of 4 connections and 0.2 s to get one."""
    flow, token = burst_flow
    env = server_env(
        _llm_server.base_url, SQLITE_BUSY_TIMEOUT="0.05", DB_POOL_MAX="4", DB_POOL_TIMEOUT="0.2"
    )
    server = BurstDaphne(env).start()
    try:
        with services_logged(server):
            answers = fire_burst(f"{server.http}/api/flows/{flow.pk}/runs", token)
            print(f"\n{connection.vendor} saturated burst of {BURST}: {report(answers)}")
            assert_accepted_or_refused(answers)
            assert any(a.status == 429 for a in answers), "the database was never saturated"
    finally:
        # The executor may still be writing (or have given up on runs the scarce database
        # refused): the test database is flushed only after the server is gone.
        server.stop()


RATE_LIMIT = 40


def test_a_burst_past_the_rate_limit_gets_202s_then_429s_with_retry_after(_llm_server, burst_flow):
    """One user's burst of run starts at the real limit: the first RATE_LIMIT are accepted, the
    rest are told to retry (429, Retry-After, "rate_limited"), nothing answers 5xx and every
    accepted run finishes."""
    flow, token = burst_flow
    env = server_env(_llm_server.base_url, SWITCHBOARD_RATE_RUN_STARTS=f"{RATE_LIMIT}/h")
    server = BurstDaphne(env).start()
    try:
        with services_logged(server):
            answers = fire(
                f"{server.http}/api/flows/{flow.pk}/runs",
                token,
                {"use_draft": True, "inputs": {"n": 21}},
                count=3 * RATE_LIMIT,
                concurrency=RATE_LIMIT,
            )
            print(f"\n{connection.vendor} rate-limited burst: {report(answers)}")
            unexpected = [a for a in answers if a.status not in (202, 429)]
            assert not unexpected, [(a.status, a.body, a.error) for a in unexpected[:5]]
            accepted = [a.run_id for a in answers if a.status == 202]
            limited = [a for a in answers if a.status == 429 and a.body["code"] == "rate_limited"]
            # Exactly the limit, unless the hour's window ended during the burst (then up to
            # twice); a busy database may refuse some of them first.
            assert 0 < len(accepted) <= 2 * RATE_LIMIT
            assert len(limited) >= RATE_LIMIT, report(answers)
            assert all(int(a.retry_after) >= 1 for a in limited)
            assert all("run starts" in a.body["detail"] for a in limited)
            assert Run.objects.filter(flow=flow).count() == len(accepted)
            wait_until(
                lambda: (
                    Run.objects.filter(pk__in=accepted, status="succeeded").count() == len(accepted)
                ),
                timeout=120,
                interval=0.5,
            )
    finally:
        server.stop()

"""API rate limits per user: writes and run starts past their limit answer 429 with Retry-After
and a message saying which limit, and do nothing; other users and reads are not affected."""

import pytest

from builder.models import Flow
from runs.models import Run
from tests.burst import BURST_GRAPH
from tests.runs.support import inline, memory_layer  # noqa: F401
from workspaces.models import Role


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def double(workspace):
    return Flow.objects.create(workspace=workspace, name="Double", graph=BURST_GRAPH)


def assert_limited(response, limit_word: str) -> dict:
    assert response.status_code == 429, response.content[:300]
    body = response.json()
    assert body["code"] == "rate_limited"
    assert limit_word in body["detail"] and "Try again in" in body["detail"]
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600 and body["retry_after"] == retry_after
    return body


def test_run_starts_past_the_limit_are_429_with_retry_after(
    settings,
    api_for,
    member,
    double,
    inline,  # noqa: F811
):
    settings.SWITCHBOARD_RATE_RUN_STARTS = "3/h"
    user = member(Role.EDITOR)
    api = api_for(user, token=True)
    url = f"/api/flows/{double.pk}/runs"
    answers = [api.post(url, {"use_draft": True, "inputs": {"n": i}}) for i in range(6)]
    statuses = [a.status_code for a in answers]
    # Usually 3 then 3 refusals; a window that ends mid-burst lets up to 3 more in.
    accepted = statuses.count(202)
    assert 3 <= accepted <= 6 and set(statuses) <= {202, 429}, statuses
    assert statuses[:3] == [202, 202, 202]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, statuses
    body = assert_limited(refused[0], "run starts")
    assert "3 per hour" in body["detail"]
    # The refused starts created nothing.
    assert Run.objects.filter(flow=double).count() == accepted

    # Re-runs count against the same limit; reading goes on.
    first = answers[0].json()["id"]
    assert_limited(api.post(f"/api/runs/{first}/rerun", {}), "run starts")
    assert api.get(f"/api/runs/{first}").status_code == 200

    # Another user has a budget of their own; the session and tokens of one user share one.
    other = api_for(member(Role.EDITOR, username="other"))
    assert other.post(url, {"use_draft": True}).status_code == 202
    assert_limited(api_for(user).post(url, {"use_draft": True}), "run starts")


def test_writes_past_the_limit_are_429_and_change_nothing(settings, api_for, member, workspace):
    settings.SWITCHBOARD_RATE_WRITES = "4/h"
    api = api_for(member(Role.EDITOR))
    made = [api.post("/api/flows", {"workspace": workspace.pk, "name": f"F{i}"}) for i in range(6)]
    statuses = [r.status_code for r in made]
    assert statuses[:4] == [201] * 4 and set(statuses) <= {201, 429}, statuses
    refused = [r for r in made if r.status_code == 429]
    if refused:  # unless the window turned over mid-test
        assert_limited(refused[0], "changes")
    assert Flow.objects.filter(workspace=workspace).count() == statuses.count(201)
    # Reads are not writes; live validation (a POST that changes nothing) is not either.
    assert api.get("/api/flows").status_code == 200
    flow_id = made[0].json()["id"]
    for _ in range(6):
        assert api.post(f"/api/flows/{flow_id}/validate", {}).status_code == 200


def test_an_empty_rate_turns_a_limit_off(settings, api_for, member, workspace):
    settings.SWITCHBOARD_RATE_WRITES = ""
    api = api_for(member(Role.EDITOR))
    made = [api.post("/api/flows", {"workspace": workspace.pk, "name": f"F{i}"}) for i in range(8)]
    assert [r.status_code for r in made] == [201] * 8

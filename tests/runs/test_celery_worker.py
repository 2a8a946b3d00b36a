"""Real Celery workers (threads pool) on real Redis and PostgreSQL run the demo flows exactly as
the embedded executor does, survive a SIGKILL in the middle of a model call, and resume a run
on an approval decided after a restart."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.

import os
import time

import pytest
from django.db import connection
from django.utils import timezone

from runs.executor import CeleryExecutor, EmbeddedExecutor, set_executor
from runs.models import Approval, Run, Step
from tests.conftest import require_or_skip
from tests.llmserver import text

from .support import (  # noqa: F401
    CeleryCluster,
    fast_passwords,
    flow_named,
    kinds_by_node,
    model_calls,
    services_logged,
    token_for,
    wait_settled,
    wait_status,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BILLING = "Write a kind"


def redis_available(url: str) -> bool:
    if not url:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(scope="module")
def cluster(django_db_setup, _llm_server):
    require_or_skip(
        connection.vendor == "postgresql", "Celery integration tests need DATABASE_URL=postgres"
    )
    redis_url = os.environ.get("REDIS_URL", "")
    require_or_skip(redis_available(redis_url), "Celery integration tests need REDIS_URL")
    cluster = CeleryCluster(
        _llm_server.base_url,
        redis_url,
        SWITCHBOARD_LEASE_SECONDS="3",
        SWITCHBOARD_SWEEP_SECONDS="1",
    )
    cluster.purge()
    cluster.start_worker()
    yield cluster
    cluster.stop()


@pytest.fixture
def celery(cluster, settings, llm_server):
    """This process sends kicks to the cluster's queue; beat (and the sweeper on its thread)
    runs meanwhile."""
    settings.SWITCHBOARD_EXECUTOR = "celery"
    settings.SWITCHBOARD_CELERY_QUEUE = cluster.queue
    set_executor(CeleryExecutor())
    cluster.start_beat()
    with services_logged(cluster):
        yield cluster
    wait_settled()
    cluster.beat.stop()
    time.sleep(0.5)  # let kicks the last sweep sent finish before the flush
    set_executor(None)


def start(api, flow_name: str) -> int:
    response = api.post(f"/api/flows/{flow_named(flow_name).pk}/runs", {})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def wait_for_approval(run_id: int) -> None:
    """Wait for the run's approval: the recipe also waits earlier, for its map's item runs."""
    wait_status(run_id, "waiting", "running")
    wait_until(
        lambda: Approval.objects.filter(run_id=run_id, status="pending").exists(), timeout=60
    )
    wait_status(run_id, "waiting")


def approve(api, run_id: int) -> None:
    approval = Approval.objects.get(run_id=run_id, status="pending")
    response = api.post(f"/api/approvals/{approval.pk}/decision", {"decision": "approved"})
    assert response.status_code == 200, response.content


def run_demo_flows(api) -> dict[str, tuple[int, float]]:
    runs = {}
    for name in ("Trip budget", "Support triage", "Recipe assistant"):
        began = time.monotonic()
        run_id = start(api, name)
        if name == "Recipe assistant":
            wait_for_approval(run_id)
            approve(api, run_id)
        wait_status(run_id, "succeeded")
        runs[name] = (run_id, time.monotonic() - began)
    return runs


def shape(run_id: int) -> tuple[dict, list]:
    steps = sorted(
        Step.objects.filter(run_id=run_id).values_list(
            "node_id", "iteration", "attempt", "status", "ports"
        )
    )
    return kinds_by_node(run_id), steps


def test_workers_run_the_demo_flows_like_the_embedded_executor(demo, celery, api_for, settings):
    api = api_for(demo["owner"], token=True)
    on_celery = run_demo_flows(api)

    settings.SWITCHBOARD_EXECUTOR = "embedded"
    embedded = EmbeddedExecutor(threads=8)
    set_executor(embedded)
    try:
        on_embedded = run_demo_flows(api)
        embedded.wait_idle()
    finally:
        embedded.stop()
        set_executor(CeleryExecutor())

    for name, (run_id, seconds) in on_celery.items():
        other_id, other_seconds = on_embedded[name]
        assert shape(run_id) == shape(other_id), name
        assert Run.objects.get(pk=run_id).result == Run.objects.get(pk=other_id).result
        print(f"\n{name}: celery {seconds:.2f}s, embedded {other_seconds:.2f}s (incl. approval)")
    lease_owners = set(
        Step.objects.filter(run_id=on_celery["Trip budget"][0])
        .exclude(lease_owner="")
        .values_list("lease_owner", flat=True)
    )
    worker_pid = str(celery.workers[0].pid)
    assert lease_owners and all(f":{worker_pid}:" in owner for owner in lease_owners)


def test_a_worker_killed_mid_step_loses_only_that_step(demo, celery, api_for, llm_server):
    llm_server.on("billing issue", text("Sorry about the double charge.", latency=2.0))
    api = api_for(demo["owner"], token=True)
    run_id = start(api, "Support triage")
    wait_until(lambda: model_calls(llm_server.requests).get(BILLING) == 1, timeout=30)
    in_flight = Step.objects.get(run_id=run_id, node_id="billing_reply")
    assert in_flight.status == "running"
    victim = celery.workers[-1]
    assert f":{victim.pid}:" in in_flight.lease_owner

    victim.kill()
    killed_at = timezone.now()
    celery.start_worker()
    wait_status(run_id, "succeeded", timeout=60)

    run = Run.objects.get(pk=run_id)
    assert run.crash_count == 1
    attempts = list(Step.objects.filter(run=run).values_list("node_id", "attempt", "status"))
    assert [a for a in attempts if a[1] > 0] == [("billing_reply", 1, "succeeded")]
    assert ("billing_reply", 0, "failed") in attempts
    # No completed step ran twice: the scripted server saw each once, the lost one twice.
    assert model_calls(llm_server.requests) == {"choose_route": 1, BILLING: 2, "submit_score": 1}
    retried = Step.objects.get(run=run, node_id="billing_reply", attempt=1)
    resumed = (retried.started_at - killed_at).total_seconds()
    finished = (run.finished_at - killed_at).total_seconds()
    print(
        f"\ncelery recovery after SIGKILL (lease 3 s, sweep 1 s, new worker started at once): "
        f"step re-executing {resumed:.2f}s after the kill, run finished {finished:.2f}s after it"
    )
    # Lease expiry plus a sweep, plus the new worker's start-up: the broker never gives the
    # killed worker's kick back (no ack emulation), so only the sweeper can have re-run it.
    assert resumed < 60


def test_an_approval_decided_after_a_worker_restart_resumes_the_run(demo, celery, api_for):
    api = api_for(demo["owner"], token=True)
    run_id = start(api, "Recipe assistant")
    wait_for_approval(run_id)
    for worker in list(celery.workers):
        worker.kill()
    celery.workers.clear()
    celery.start_worker()
    approve(api, run_id)
    wait_status(run_id, "succeeded")
    run = Run.objects.get(pk=run_id)
    assert set(run.result) == {"recipe"}
    assert run.crash_count == 0


def test_a_websocket_on_the_redis_layer_outlives_an_idle_approval_wait(demo, celery, api_for):
    """A browser waiting on an approval is idle for minutes; the Redis channel layer must not
    drop it (redis-py 8's default 5 s read timeout used to, with close code 1011)."""
    import json

    from websockets.sync.client import connect

    from .support import Daphne

    server = Daphne(celery.env).start()
    api = api_for(demo["owner"], token=True)
    token = token_for(demo["owner"])
    try:
        run_id = start(api, "Recipe assistant")
        wait_for_approval(run_id)
        with connect(
            f"{server.ws}/ws/runs/{run_id}/",
            additional_headers={"Authorization": f"Bearer {token}"},
            proxy=None,
        ) as ws:
            while json.loads(ws.recv(timeout=10))["type"] != "ready":
                pass
            time.sleep(6.5)
            approve(api, run_id)
            kinds = []
            while "run.succeeded" not in kinds:
                message = json.loads(ws.recv(timeout=20))
                kinds.append(message.get("kind"))
        assert "approval.decided" in kinds
    except BaseException:
        print(server.output())
        raise
    finally:
        server.stop()

"""The embedded deployment survives a kill -9: the next process takes the run back at start-up
(without waiting for the lease), re-executes only the step in flight, and finishes the run."""

import json
import urllib.request

import pytest
from django.utils import timezone

from runs.models import Run, Step
from tests.llmserver import text

from .support import (  # noqa: F401
    Daphne,
    embedded_env,
    fast_passwords,
    flow_named,
    model_calls,
    token_for,
    wait_settled,
    wait_status,
    wait_until,
)

BILLING = "Write a kind"  # the opening words of the billing reply's prompt
LEASE_SECONDS = 300


@pytest.mark.django_db(transaction=True)
def test_embedded_process_killed_mid_step_resumes_on_restart(demo, llm_server):
    llm_server.on("billing issue", text("Sorry about the double charge, refund on its way.",
                                        latency=2.0))  # fmt: skip
    token = token_for(demo["owner"])
    # Leases far longer than the wait below: only start-up recovery can finish the run in time.
    env = embedded_env(llm_server.base_url, SWITCHBOARD_LEASE_SECONDS=str(LEASE_SECONDS))
    first = Daphne(env).start()
    second = None
    try:
        request = urllib.request.Request(
            f"{first.http}/api/flows/{flow_named('Support triage').pk}/runs",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            run_id = json.loads(response.read())["id"]
        wait_until(lambda: model_calls(llm_server.requests).get(BILLING) == 1, timeout=20)
        assert Step.objects.get(run_id=run_id, node_id="billing_reply").status == "running"
        first.kill()
        killed_at = timezone.now()
        lease_ended_at = Step.objects.get(run_id=run_id, node_id="billing_reply").lease_expires_at
        second = Daphne(env).start()
        wait_status(run_id, "succeeded", timeout=30)
    except BaseException:
        for server in (first, second):
            if server is not None:
                print(f"--- daphne {server.pid} ---\n{server.output()}")
        raise
    finally:
        if second is not None:
            wait_settled()
            second.stop()
        first.stop()

    run = Run.objects.get(pk=run_id)
    attempts = list(Step.objects.filter(run=run).values_list("node_id", "attempt", "status"))
    assert ("billing_reply", 0, "failed") in attempts
    assert ("billing_reply", 1, "succeeded") in attempts
    assert [a for a in attempts if a[1] > 0] == [("billing_reply", 1, "succeeded")]
    # Completed steps never ran twice: one call each, two for the step that was in flight.
    assert model_calls(llm_server.requests) == {"choose_route": 1, BILLING: 2, "submit_score": 1}
    retried = Step.objects.get(run=run, node_id="billing_reply", attempt=1)
    resumed = (retried.started_at - killed_at).total_seconds()
    finished = (run.finished_at - killed_at).total_seconds()
    print(
        f"\nembedded recovery after kill -9: step re-executing {resumed:.2f}s after the kill "
        f"(includes starting daphne), run finished {finished:.2f}s after it"
    )
    # Taken back by the new process at start-up, not by the sweeper once the lease ran out.
    assert lease_ended_at is not None and retried.started_at < lease_ended_at
    assert "Recovering 1 run(s) left by a previous process" in second.output()

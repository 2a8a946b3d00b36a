"""A real websocket client (the `websockets` library) against a real daphne serving the embedded
deployment: runs started over HTTP stream every event, in order, across reconnects, and nothing
leaks to the wrong people."""

import json
import statistics
import time
import urllib.error
import urllib.request
from datetime import datetime

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from runs.models import RunEvent
from tests.llmserver import text
from workspaces.models import Role, Workspace

from .support import (  # noqa: F401
    Daphne,
    embedded_env,
    fast_passwords,
    flow_named,
    join,
    token_for,
    wait_settled,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker, _llm_server):
    # No periodic sweeps: these tests need none, and they would write during the flushes.
    server = Daphne(embedded_env(_llm_server.base_url, SWITCHBOARD_SWEEP_SECONDS="3600")).start()
    yield server
    server.stop()


def http(server: Daphne, method: str, path: str, token: str, body=None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server.http + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def stream(server: Daphne, run_id: int, token: str | None = None, *, after: int = 0, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(
        f"{server.ws}/ws/runs/{run_id}/?after={after}",
        additional_headers=headers,
        proxy=None,
        open_timeout=5,
        **kwargs,
    )


def read_until(ws, predicate, timeout: float = 20) -> list[dict]:
    messages = []
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        message["_received"] = time.time()
        messages.append(message)
        if predicate(message):
            return messages


def events_of(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] == "event"]


@pytest.fixture
def owner(demo, llm_server, daphne):
    yield demo["owner"], token_for(demo["owner"])
    wait_settled()


def test_a_run_started_over_http_streams_every_event_in_order(daphne, owner):
    _, token = owner
    status, started = http(
        daphne, "POST", f"/api/flows/{flow_named('Trip budget').pk}/runs", token, {}
    )
    assert status == 202, started
    with stream(daphne, started["id"], token) as ws:
        messages = read_until(ws, lambda m: m.get("kind") == "run.succeeded")
    events = events_of(messages)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    _, logged = http(daphne, "GET", started["events_url"], token)
    strip = [{k: v for k, v in e.items() if k not in ("type", "_received")} for e in events]
    assert strip == logged["events"]
    assert strip == [e.as_dict() for e in RunEvent.objects.filter(run_id=started["id"])]
    latencies = [
        (e["_received"] - datetime.fromisoformat(e["ts"]).timestamp()) * 1000
        for e in events
        if e["seq"] > 1
    ]
    print(
        f"\nembedded ws latency (event ts → client), {len(latencies)} events: "
        f"p50 {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms"
    )


def test_a_client_that_reconnects_with_after_misses_nothing_and_sees_nothing_twice(
    daphne, owner, llm_server
):
    _, token = owner
    llm_server.on("A trip to", text("The trip costs a lot.", latency=1.0))
    _, started = http(daphne, "POST", f"/api/flows/{flow_named('Trip budget').pk}/runs", token, {})
    with stream(daphne, started["id"], token) as ws:
        first = read_until(
            ws, lambda m: m.get("kind") == "step.started" and m.get("node_id") == "explain"
        )
    last = events_of(first)[-1]["seq"]
    # Away while the model answers and the run finishes.
    deadline = time.monotonic() + 20
    while http(daphne, "GET", started["url"], token)[1]["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with stream(daphne, started["id"], token, after=last) as ws:
        rest = read_until(ws, lambda m: m["type"] == "ready")
    seqs = [e["seq"] for e in events_of(first) + events_of(rest)]
    total = RunEvent.objects.filter(run_id=started["id"]).count()
    assert seqs == list(range(1, total + 1))
    assert rest[-1] == {
        "type": "ready",
        "seq": total,
        "status": "succeeded",
        "_received": rest[-1]["_received"],
    }


def test_wrong_origin_anonymous_and_strangers_get_nothing(daphne, owner, make_user):
    _, token = owner
    _, started = http(daphne, "POST", f"/api/flows/{flow_named('Trip budget').pk}/runs", token, {})
    run_id = started["id"]
    with pytest.raises(InvalidStatus) as refused:
        stream(daphne, run_id, token, origin="http://evil.example")
    assert refused.value.response.status_code == 403

    stranger = make_user("mallory")
    join(stranger, Workspace.objects.create(name="Evil", slug="evil"), Role.OWNER)
    for credentials in ({"origin": "http://127.0.0.1"}, {"token": token_for(stranger)}):
        with stream(daphne, run_id, **credentials) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 4403
    # The owner, for comparison, is served.
    with stream(daphne, run_id, token, origin="http://127.0.0.1") as ws:
        assert read_until(ws, lambda m: m["type"] == "ready")


def post_raw(server: Daphne, path: str, body: bytes, content_type: str, token: str | None = None):
    headers = {
        "Content-Type": content_type,
        **({"Authorization": f"Bearer {token}"} if token else {}),
    }
    request = urllib.request.Request(server.http + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def test_a_form_body_reaches_django_unparsed_by_the_server(daphne):
    # Twisted would parse a multipart body on the reactor thread and answer one it cannot parse
    # with its own bare 400 page; daphne leaves the body to Django (config/webserver.py), which
    # answers as the API always does.
    status, kind, body = post_raw(
        daphne, "/api/datasets", b"not a multipart body", "multipart/form-data; boundary=xyz"
    )
    assert status == 403 and kind.startswith("application/json"), (status, kind, body)
    assert json.loads(body)["code"] == "forbidden"  # no token and no session: Django's answer


def test_an_upload_through_daphne_is_parsed_by_django(daphne, owner):
    user, token = owner
    workspace = user.workspaces.first()
    status, created = http(
        daphne, "POST", "/api/datasets", token, {"workspace": workspace.pk, "name": "Uploads"}
    )
    assert status == 201, created
    boundary = "switchboard-test"
    csv_text = "question,expected\nWhat is 2 + 2?,4\nCapital of France?,Paris\n"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="q.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{csv_text}\r\n--{boundary}--\r\n"
    ).encode()
    status, _, answer = post_raw(
        daphne,
        f"/api/datasets/{created['id']}/upload",
        body,
        f"multipart/form-data; boundary={boundary}",
        token,
    )
    assert status == 201, answer
    assert json.loads(answer) == {"added": 2, "problems": []}

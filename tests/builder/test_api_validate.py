"""Live validation: over the limits it answers 413; while it runs, other requests go on."""

import asyncio
import json
import threading

import pytest
from django.core.handlers.asgi import ASGIHandler

from builder.graph import MAX_EDGES, MAX_GRAPH_BYTES, MAX_NODES
from workspaces.models import ApiToken, Role

from .conftest import assert_error
from .graphs import base_graph, edge, find, node


def _too_many_nodes(graph: dict) -> None:
    graph["nodes"] += [node(f"extra{i}", "output", {}) for i in range(MAX_NODES)]


def _too_many_edges(graph: dict) -> None:
    graph["edges"] += [edge(f"more{i}", "start", "draft") for i in range(MAX_EDGES)]


def _too_many_bytes(graph: dict) -> None:
    find(graph["nodes"], "polish")["config"]["prompt"] = "x" * MAX_GRAPH_BYTES


@pytest.mark.parametrize(
    ("grow", "code"),
    [
        (_too_many_nodes, "graph.E015"),
        (_too_many_edges, "graph.E016"),
        (_too_many_bytes, "graph.E018"),
    ],
)
def test_api_validate_over_a_limit_is_413_with_the_limit(api_for, member, flow, grow, code):
    graph = base_graph()
    grow(graph)
    response = api_for(member(Role.VIEWER)).post(f"/api/flows/{flow.pk}/validate", {"graph": graph})
    body = assert_error(response, 413, "too_large")
    assert [e["code"] for e in body["errors"]] == [code]


def test_api_validate_at_the_limits_answers(api_for, member, flow):
    graph = base_graph()
    graph["nodes"] += [node(f"extra{i}", "output", {}) for i in range(MAX_NODES - 8)]
    response = api_for(member(Role.VIEWER)).post(f"/api/flows/{flow.pk}/validate", {"graph": graph})
    assert response.status_code == 200
    codes = {e["code"] for e in response.json()["errors"]}
    assert codes == {"graph.E013"}  # the extra outputs are not connected


async def _call(app, method: str, path: str, token: str, body: bytes = b"") -> int:
    """Send one request through an ASGI application, as daphne does; return the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = []

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never disconnects

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


@pytest.fixture
def token(editor) -> str:
    # Issued here, on the test's thread: a connection opened from an asgiref thread in the test
    # would stay open and keep the test database from being dropped.
    return ApiToken.issue(user=editor, name="test")[1]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_api_validate_does_not_hold_up_other_requests(token, flow, monkeypatch):
    """While a validation runs, other requests (sync views using the database) complete.

    Through Django's real ASGI handler, as under daphne. The validation is made to run until it
    is told to finish; two other requests must complete meanwhile. Had the validation shared a
    thread with them, they could not start, and the test would fail at the timeout rather than
    hang. Events, no sleeps.
    """
    import builder.services

    started, finish = threading.Event(), threading.Event()
    validate = builder.services.validate_graph

    def long_validation(graph, **options):
        started.set()
        finish.wait(timeout=30)
        return validate(graph, **options)

    # The view validates through the service (which adds the sub-flow checks).
    monkeypatch.setattr(builder.services, "validate_graph", long_validation)
    app = ASGIHandler()
    body = json.dumps({"graph": base_graph()}).encode()
    validating = asyncio.ensure_future(
        _call(app, "POST", f"/api/flows/{flow.pk}/validate", token, body)
    )
    try:
        assert await asyncio.to_thread(started.wait, 30), "the validation never started"
        others = asyncio.gather(
            _call(app, "GET", f"/api/flows/{flow.pk}/versions", token),
            _call(app, "GET", "/api/flows", token),
        )
        assert await asyncio.wait_for(others, timeout=30) == [200, 200]
        assert not validating.done()
    finally:
        finish.set()
    assert await validating == 200

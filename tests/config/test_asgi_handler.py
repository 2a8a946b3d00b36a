"""The ASGI application serves HTTP through a middleware chain built synchronously (each request on
one pooled thread, no hop between the event loop and threads for each middleware), and the chain
still does its work: token and session auth, CSRF, the API's error shape, the API itself."""

import json

import pytest
import pytest_asyncio
from asgiref.sync import iscoroutinefunction
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.db import connections

from config.asgi import application, django_asgi_app
from runs.models import Run
from tests.burst import BURST_GRAPH
from tests.runs.support import inline, memory_layer, token_for  # noqa: F401
from workspaces.models import Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest_asyncio.fixture
async def close_thread_connections():
    yield
    await database_sync_to_async(connections.close_all)()


async def http(method: str, path: str, *, body: bytes = b"", headers=()) -> tuple[int, dict, bytes]:
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
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(timeout=20)
    content = b""
    while True:
        message = await communicator.receive_output(timeout=20)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=5)
    return start["status"], dict(start["headers"]), content


def test_the_middleware_chain_is_built_sync():
    # What removes the per-middleware thread hops: an async chain would be a coroutine function.
    assert not iscoroutinefunction(django_asgi_app._middleware_chain)


@pytest.mark.asyncio
async def test_a_run_starts_over_asgi_with_a_token(
    member,
    workspace,
    inline,  # noqa: F811
    close_thread_connections,
):
    from builder.models import Flow

    user = await database_sync_to_async(member)(Role.EDITOR)
    flow = await database_sync_to_async(Flow.objects.create)(
        workspace=workspace, name="Double", graph=BURST_GRAPH
    )
    token = await database_sync_to_async(token_for)(user)
    status, headers, content = await http(
        "POST",
        f"/api/flows/{flow.pk}/runs",
        body=json.dumps({"use_draft": True, "inputs": {"n": 2}}).encode(),
        headers=[
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
        ],
    )
    assert status == 202, content
    run_id = json.loads(content)["id"]
    run = await database_sync_to_async(Run.objects.get)(pk=run_id)
    assert run.flow_id == flow.pk and run.created_by_id == user.pk
    # The outer middlewares ran too.
    assert b"Content-Security-Policy" in headers and headers[b"X-Frame-Options"] == b"DENY"


@pytest.mark.asyncio
async def test_errors_keep_their_shape_over_asgi(close_thread_connections):
    status, _, content = await http("GET", "/api/flows")
    assert status == 401 and json.loads(content)["code"] == "unauthorized"
    status, _, content = await http("GET", "/api/no-such-thing")
    assert status == 404 and json.loads(content) == {"detail": "Not found", "code": "not_found"}
    status, headers, _ = await http("GET", "/")
    assert status == 302 and headers[b"Location"].startswith(b"/login")


@pytest.mark.asyncio
async def test_requests_share_pooled_threads_and_their_connections(
    member,
    workspace,
    close_thread_connections,
):
    # Django gives each ASGI request a thread-sensitive context of its own, which meant a new
    # thread per request: new connection objects, and on SQLite a new connection (and its
    # PRAGMAs) for every request. On the web pool's threads, with SQLite connections kept open
    # per thread, no thread opens a second one, and ten sequential requests reuse threads.
    # (Not "exactly one": ThreadPoolExecutor marks a thread idle only after the request's result
    # has reached the event loop, so under load the next request can get a second thread.)
    from django.db import connection
    from django.db.backends.signals import connection_created

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL connections come from the pool on every request by design")
    user = await database_sync_to_async(member)(Role.EDITOR)
    token = await database_sync_to_async(token_for)(user)
    opened = []

    def on_connect(sender, connection, **kwargs):
        import threading

        opened.append(threading.current_thread().name)

    connection_created.connect(on_connect)
    try:
        for _ in range(10):
            status, _, content = await http(
                "GET", "/api/flows", headers=[(b"authorization", f"Bearer {token}".encode())]
            )
            assert status == 200, content
    finally:
        connection_created.disconnect(on_connect)
    assert len(opened) == len(set(opened)), opened  # a thread that opened one kept it
    assert len(opened) <= 3, opened  # not a thread (and a connection) per request
    assert all(name.startswith("web") for name in opened)


@pytest.mark.asyncio
async def test_django_s_thread_sensitive_calls_share_one_thread_across_requests(
    close_thread_connections,
):
    # Around the chain Django still calls the `request_started` receivers and
    # `response.close()` thread-sensitively, in a context it opens per request: asgiref started
    # (and joined) a thread for each request's context. They run on one kept thread now.
    import threading

    from django.core.signals import request_finished, request_started

    seen: list[int] = []

    def on_signal(sender, **kwargs):
        seen.append(threading.get_ident())

    request_started.connect(on_signal)
    request_finished.connect(on_signal)
    try:
        for _ in range(5):
            status, _, _ = await http("GET", "/api/flows")
            assert status == 401
    finally:
        request_started.disconnect(on_signal)
        request_finished.disconnect(on_signal)
    assert len(seen) == 10
    assert len(set(seen)) == 1, seen
    assert seen[0] != threading.get_ident()  # still off the event loop


@pytest.mark.asyncio
async def test_a_sync_streaming_response_is_produced_on_the_request_s_thread(
    settings, close_thread_connections
):
    # Django consumes a sync iterator with one thread-sensitive call, which would now be the
    # thread every request's signals share: a long export there would hold them all.
    from tests.config import streaming_urls

    settings.ROOT_URLCONF = "tests.config.streaming_urls"
    streaming_urls.produced_on.clear()
    status, _, content = await http("GET", "/stream")
    assert status == 200
    assert content == b"part 0\npart 1\npart 2\n"
    assert len(streaming_urls.produced_on) == 3
    assert all(name.startswith("web") for name in streaming_urls.produced_on), (
        streaming_urls.produced_on
    )

"""The run and workspace websocket streams, through Channels' WebsocketCommunicator and the same
middleware stack daphne serves (Origin check, session, token)."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

import asyncio

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections, transaction
from django.test import Client

from config.asgi import websocket_application
from runs.executor import InlineExecutor
from runs.models import Run, RunEvent
from runs.services import events as events_module
from runs.services import run_start
from runs.services.lifecycle import event_now
from workspaces.models import Membership, Role, Workspace

from .support import fast_passwords, flow_named, inline, join, memory_layer, token_for  # noqa: F401

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://testserver")


@pytest_asyncio.fixture(autouse=True)
async def close_thread_connections():
    """Close the connection consumers opened from asgiref's thread, so the test database can be
    flushed and dropped without waiting for it."""
    yield
    await database_sync_to_async(connections.close_all)()


def connect(path: str, *, token: str | None = None, cookie: str | None = None, origin=ORIGIN):
    headers = [origin] if origin else []
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(websocket_application, path, headers=headers)


async def receive_until(communicator, predicate, timeout: float = 5) -> list[dict]:
    """Collect messages until one satisfies `predicate` (included)."""
    messages = []
    async with asyncio.timeout(timeout):
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            messages.append(message)
            if predicate(message):
                return messages


async def closed_with(communicator) -> int | None:
    """Return the close code of a connection refused after accepting (nothing else sent)."""
    output = await communicator.receive_output(timeout=2)
    assert output["type"] == "websocket.close", output
    return output.get("code")


def stored(run_id: int) -> list[dict]:
    return [e.as_dict() for e in RunEvent.objects.filter(run_id=run_id).order_by("seq")]


@pytest.fixture
def queued_run(demo, inline):
    """A Trip budget run, queued and not yet advanced."""
    return run_start(user=demo["owner"], flow=flow_named("Trip budget"), inputs=None)


@pytest.fixture
def finished_run(queued_run):
    InlineExecutor().advance(queued_run.pk)
    return Run.objects.get(pk=queued_run.pk)


@pytest.fixture
def owner_token(demo):
    return token_for(demo["owner"])


def append(run_id: int, kind: str, node_id: str = "") -> int:
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        return event_now(run, kind, node_id, {"note": kind}).seq


async def test_backlog_after_seq_then_ready(finished_run, owner_token):
    events = await database_sync_to_async(stored)(finished_run.pk)
    communicator = connect(f"/ws/runs/{finished_run.pk}/?after=3", token=owner_token)
    assert (await communicator.connect())[0]
    messages = await receive_until(communicator, lambda m: m["type"] == "ready")
    assert [m for m in messages if m["type"] == "event"] == [
        {"type": "event", **e} for e in events[3:]
    ]
    assert messages[-1] == {"type": "ready", "seq": events[-1]["seq"], "status": "succeeded"}
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_live_events_arrive_in_order_without_gaps(queued_run, owner_token):
    communicator = connect(f"/ws/runs/{queued_run.pk}/", token=owner_token)
    assert (await communicator.connect())[0]
    first = await receive_until(communicator, lambda m: m["type"] == "ready")
    await database_sync_to_async(InlineExecutor().advance)(queued_run.pk)
    messages = first + await receive_until(communicator, lambda m: m.get("kind") == "run.succeeded")
    received = [m for m in messages if m["type"] == "event"]
    expected = await database_sync_to_async(stored)(queued_run.pk)
    assert [{"type": "event", **e} for e in expected] == received
    assert [m["seq"] for m in received] == list(range(1, len(expected) + 1))
    await communicator.disconnect()


async def test_duplicates_are_dropped_and_gaps_filled_from_the_log(
    queued_run, owner_token, monkeypatch
):
    communicator = connect(f"/ws/runs/{queued_run.pk}/", token=owner_token)
    assert (await communicator.connect())[0]
    await receive_until(communicator, lambda m: m["type"] == "ready")
    # The channel layer drops one event on the way (at-most-once), then redelivers an old one.
    real = events_module.broadcast
    monkeypatch.setattr(events_module, "broadcast", lambda event, workspace_id=None: None)
    lost = await database_sync_to_async(append)(queued_run.pk, "step.skipped", "lost")
    monkeypatch.setattr(events_module, "broadcast", real)
    after = await database_sync_to_async(append)(queued_run.pk, "step.skipped", "after")
    received = await receive_until(communicator, lambda m: m.get("seq") == after)
    assert [m["seq"] for m in received] == [lost, after]
    old = (await database_sync_to_async(stored)(queued_run.pk))[0]
    await database_sync_to_async(real)(old)
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_deltas_are_streamed_live(queued_run, owner_token):
    communicator = connect(f"/ws/runs/{queued_run.pk}/", token=owner_token)
    assert (await communicator.connect())[0]
    await receive_until(communicator, lambda m: m["type"] == "ready")
    await database_sync_to_async(events_module.broadcast_delta)(queued_run.pk, "explain", "Hi", 1)
    message = await communicator.receive_json_from()
    assert message["type"] == "delta" and message["seq"] is None
    assert (message["node_id"], message["data"], message["after_seq"]) == (
        "explain",
        {"text": "Hi"},
        1,
    )
    await communicator.disconnect()


async def test_reconnect_with_after_has_no_gap_and_no_duplicate(queued_run, owner_token):
    communicator = connect(f"/ws/runs/{queued_run.pk}/", token=owner_token)
    assert (await communicator.connect())[0]
    seen = await receive_until(communicator, lambda m: m["type"] == "ready")
    await database_sync_to_async(append)(queued_run.pk, "step.skipped", "a")
    seen += await receive_until(communicator, lambda m: m.get("node_id") == "a")
    await communicator.disconnect()
    # The run goes on while the client is away.
    await database_sync_to_async(InlineExecutor().advance)(queued_run.pk)
    last = max(m["seq"] for m in seen if m["type"] == "event")
    again = connect(f"/ws/runs/{queued_run.pk}/?after={last}", token=owner_token)
    assert (await again.connect())[0]
    rest = await receive_until(again, lambda m: m["type"] == "ready")
    events = [m for m in seen + rest if m["type"] == "event"]
    expected = await database_sync_to_async(stored)(queued_run.pk)
    assert [m["seq"] for m in events] == [e["seq"] for e in expected]
    await again.disconnect()


async def test_heartbeat_heals_silent_drops_and_carries_the_seq(
    queued_run, owner_token, settings, monkeypatch
):
    settings.SWITCHBOARD_WS_HEARTBEAT_SECONDS = 0.2
    communicator = connect(f"/ws/runs/{queued_run.pk}/", token=owner_token)
    assert (await communicator.connect())[0]
    await receive_until(communicator, lambda m: m["type"] == "ready")
    monkeypatch.setattr(events_module, "broadcast", lambda event, workspace_id=None: None)
    lost = await database_sync_to_async(append)(queued_run.pk, "step.skipped", "lost")
    messages = await receive_until(communicator, lambda m: m["type"] == "heartbeat")
    assert [m.get("seq") for m in messages] == [lost, lost]
    assert messages[-1] == {
        "type": "heartbeat",
        "run_id": queued_run.pk,
        "seq": lost,
        "status": "queued",
    }
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "heartbeat"
    await communicator.disconnect()


async def test_strangers_and_anonymous_are_refused_with_nothing_sent(
    finished_run, make_user, api_for
):
    def stranger_token():
        user = make_user("mallory")
        join(user, Workspace.objects.create(name="Evil", slug="evil"), Role.OWNER)
        return token_for(user)

    token = await database_sync_to_async(stranger_token)()
    for communicator in (
        connect(f"/ws/runs/{finished_run.pk}/", token=token),
        connect(f"/ws/runs/{finished_run.pk}/?token={token}"),
        connect(f"/ws/runs/{finished_run.pk}/"),
        connect(f"/ws/runs/{finished_run.pk}/", token="sb_not-a-real-token"),
        connect(f"/ws/runs/{finished_run.pk + 999}/", token=token),
    ):
        assert (await communicator.connect())[0]
        assert await closed_with(communicator) == 4403
        assert await communicator.receive_nothing(timeout=0.1)


async def test_wrong_or_missing_origin_is_refused_at_the_handshake(finished_run, owner_token, demo):
    cookie = await database_sync_to_async(session_cookie)(demo["owner"])
    path = f"/ws/runs/{finished_run.pk}/"
    refused = [
        connect(path, cookie=cookie, origin=(b"origin", b"https://evil.example")),
        connect(path, token=owner_token, origin=(b"origin", b"https://evil.example")),
        connect(path, cookie=cookie, origin=None),
    ]
    for communicator in refused:
        connected, _ = await communicator.connect()
        assert not connected
    # A program with a token needs no Origin; a browser session with the right Origin works.
    for communicator in (
        connect(path, token=owner_token, origin=None),
        connect(f"{path}?token={owner_token}", origin=None),
        connect(path, cookie=cookie),
    ):
        assert (await communicator.connect())[0]
        messages = await receive_until(communicator, lambda m: m["type"] == "ready")
        assert messages[0]["seq"] == 1
        await communicator.disconnect()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def test_losing_membership_closes_the_stream(queued_run, settings, make_user):
    settings.SWITCHBOARD_WS_HEARTBEAT_SECONDS = 0.2

    def editor_token():
        user = make_user("temp")
        join(user, queued_run.workspace)
        return user, token_for(user)

    user, token = await database_sync_to_async(editor_token)()
    communicator = connect(f"/ws/runs/{queued_run.pk}/", token=token)
    assert (await communicator.connect())[0]
    await receive_until(communicator, lambda m: m["type"] == "ready")
    await database_sync_to_async(Membership.objects.filter(user=user).delete)()
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4403}


async def test_workspace_stream_follows_runs_and_approvals(demo, inline, owner_token):
    communicator = connect("/ws/workspace/", token=owner_token)
    assert (await communicator.connect())[0]
    ready = await communicator.receive_json_from()
    assert ready == {"type": "ready", "workspaces": [demo["workspace"].pk]}

    def start():
        run = run_start(user=demo["owner"], flow=flow_named("Recipe assistant"), inputs=None)
        InlineExecutor().advance(run.pk)
        return run.pk

    run_id = await database_sync_to_async(start)()
    asked = []

    def at_the_approval(message: dict) -> bool:
        if message["run_id"] == run_id and message.get("kind") == "approval.requested":
            asked.append(message)
        return bool(asked) and message.get("kind") == "run.waiting"

    received = await receive_until(communicator, at_the_approval)
    # The recipe's map prices each missing ingredient in runs of their own, streamed too (the
    # run waits for them first).
    messages = [m for m in received if m["run_id"] == run_id]
    assert len(received) > len(messages)
    kinds = [m["kind"] for m in messages]
    assert kinds[:2] == ["run.queued", "run.started"] and kinds[-2:] == [
        "approval.requested",
        "run.waiting",
    ]
    assert asked[0]["for_you"] is True
    assert asked[0]["data"]["approval_id"]
    await communicator.disconnect()


async def test_workspace_stream_refuses_anonymous_and_foreign_workspaces(demo, owner_token):
    other = await database_sync_to_async(Workspace.objects.create)(name="Other", slug="other2")
    for communicator in (
        connect("/ws/workspace/"),
        connect(f"/ws/workspace/?workspace={other.pk}", token=owner_token),
        connect("/ws/workspace/?workspace=abc", token=owner_token),
    ):
        assert (await communicator.connect())[0]
        assert await closed_with(communicator) == 4403
    one = connect(f"/ws/workspace/?workspace={demo['workspace'].pk}", token=owner_token)
    assert (await one.connect())[0]
    assert (await one.receive_json_from())["workspaces"] == [demo["workspace"].pk]
    await one.disconnect()


async def test_events_sent_together_arrive_one_by_one_in_order(
    queued_run, owner_token, monkeypatch
):
    communicator = connect(f"/ws/runs/{queued_run.pk}/", token=owner_token)
    assert (await communicator.connect())[0]
    await receive_until(communicator, lambda m: m["type"] == "ready")
    monkeypatch.setattr(events_module, "broadcast_many", lambda events, workspace_id=None: None)
    seqs = [
        await database_sync_to_async(append)(queued_run.pk, "step.skipped", f"n{i}")
        for i in range(3)
    ]
    events = [e for e in await database_sync_to_async(stored)(queued_run.pk) if e["seq"] in seqs]
    delta = {"run_id": queued_run.pk, "seq": None, "after_seq": seqs[0], "kind": "step.delta",
             "node_id": "n0", "data": {"text": "Hi"}, "ts": events[0]["ts"]}  # fmt: skip
    # What the broadcast loop sends for a step's commit: one message with the group's events.
    [(group, message)] = events_module.coalesced(
        [(events_module.run_group(queued_run.pk), {"type": "run.event", "event": e})
         for e in (events[0], delta, events[1], events[2])]
    )  # fmt: skip
    assert message["type"] == "run.events" and len(message["events"]) == 4
    await get_channel_layer().group_send(group, message)
    received = await receive_until(communicator, lambda m: m.get("seq") == seqs[-1])
    assert [(m["type"], m["seq"]) for m in received] == [
        ("event", seqs[0]),
        ("delta", None),
        ("event", seqs[1]),
        ("event", seqs[2]),
    ]
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()

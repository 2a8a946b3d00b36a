"""Websocket streams: one run's event log, and a workspace's run and approval changes.

Run stream, `/ws/runs/<run_id>/?after=<seq>`:

- the user must be able to read the run, else the socket is closed with 4403 before anything
  is sent;
- the consumer joins the run's group first, then sends every stored event after `after`, then
  live events, de-duplicated by seq (a live event that skips ahead makes it read the gap from
  the log, so clients see every seq exactly once, in order);
- every 15 s it sends `{"type": "heartbeat", "seq": <last seq>}`, after healing any silent drop
  from the log: a client whose last seq is behind the heartbeat's refetches from the log.

Messages: `{"type": "event", "run_id", "seq", "ts", "kind", "node_id", "data"}` (stored events),
`{"type": "delta", "run_id", "seq": null, "after_seq", "node_id", "data": {"text"}}` (live token
deltas, never stored), `{"type": "ready", "seq", "status"}` once the backlog is sent, and
heartbeats.

Authentication: the session cookie (browsers; the Origin must be an allowed host), or a personal
token for programs as `Authorization: Bearer <token>` or `?token=<token>` in the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from config.schemas import MAX_DB_ID
from runs.selectors import run_events, run_readable, workspace_ids_for
from runs.services.events import register_loop, run_group, workspace_group
from workspaces.services import token_authenticate

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
HEARTBEAT_SECONDS = 15.0


def _query(scope: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin1"))


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def handshake_token(scope: dict[str, Any]) -> str | None:
    """The personal token a program sent with the handshake (header or query), if any."""
    authorization = _header(scope, b"authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    values = _query(scope).get("token")
    return values[0] if values and values[0] else None


class TokenAuthMiddleware(BaseMiddleware):
    """Set `scope["user"]` from a personal token when the handshake carries one.

    A token that does not authenticate makes the connection anonymous: it never falls back to
    the session, so a program always knows which identity it streams as.
    """

    async def __call__(self, scope, receive, send):
        raw = handshake_token(scope)
        if raw is not None:
            user = await database_sync_to_async(token_authenticate)(raw)
            scope = dict(scope, user=user or AnonymousUser())
        return await super().__call__(scope, receive, send)


class OriginCheck(OriginValidator):
    """Channels' allowed-hosts Origin check, plus: programs with a token need no Origin.

    Browsers always send an Origin with a websocket handshake, so a missing Origin cannot be a
    cross-site page riding on a session cookie; Channels' own validator rejects it anyway, which
    would lock out API clients. A handshake without an Origin is let through only when it
    carries a token (and the token alone then decides who the user is).
    """

    async def __call__(self, scope, receive, send):
        if _header(scope, b"origin") is None:
            if handshake_token(scope) is not None:
                return await self.application(scope, receive, send)
            return await WebsocketDenier()(scope, receive, send)
        return await super().__call__(scope, receive, send)


def origin_checked(application: Any) -> OriginCheck:
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return OriginCheck(application, allowed)


def heartbeat_seconds() -> float:
    return float(getattr(settings, "SWITCHBOARD_WS_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))


class _Beating(AsyncJsonWebsocketConsumer):
    """A consumer that runs `beat()` periodically while connected."""

    _ticker: asyncio.Task | None = None

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        # Broadcasts from worker threads are delivered on the server's loop, where the
        # in-memory channel layer's queues live.
        register_loop(asyncio.get_running_loop())
        await super().accept(subprotocol, headers)

    def start_beating(self) -> None:
        self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        interval = heartbeat_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Websocket heartbeat failed")

    async def beat(self) -> None:
        raise NotImplementedError

    async def stop_beating(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ticker
            self._ticker = None


class RunConsumer(_Beating):
    """Stream one run's events: the stored log after `after`, then live, each seq once."""

    async def connect(self) -> None:
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.sent = _after(self.scope)
        self.group: str | None = None
        self.lock = asyncio.Lock()
        await self.accept()
        facts = await database_sync_to_async(run_readable)(
            user=self.scope.get("user"), run_id=self.run_id
        )
        if facts is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # Join first, read the log second: an event committed in between arrives live and is
        # dropped as a duplicate, instead of falling between the two.
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        async with self.lock:
            await self._catch_up()
            await self.send_json({"type": "ready", "seq": self.sent, "status": facts["status"]})
        self.start_beating()

    async def disconnect(self, code: int) -> None:
        await self.stop_beating()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The stream is one-way; a client may ping to get a heartbeat at once.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.beat()

    async def run_events(self, message: dict[str, Any]) -> None:
        """Several events of the run in one message (`events.coalesced`), in order."""
        for event in message["events"]:
            await self.run_event({"event": event})

    async def run_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event.get("run_id") != self.run_id:
            return
        if event.get("seq") is None:
            await self.send_json({"type": "delta", **event})
            return
        async with self.lock:
            if event["seq"] <= self.sent:
                return
            if event["seq"] == self.sent + 1:
                await self._send_event(event)
            else:
                await self._catch_up()

    async def beat(self) -> None:
        facts = await database_sync_to_async(run_readable)(
            user=self.scope.get("user"), run_id=self.run_id
        )
        if facts is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        async with self.lock:
            if facts["last_seq"] > self.sent:
                # A live event was lost on the way (the channel layer is at-most-once).
                await self._catch_up()
            await self.send_json(
                {
                    "type": "heartbeat",
                    "run_id": self.run_id,
                    "seq": max(self.sent, facts["last_seq"]),
                    "status": facts["status"],
                }
            )

    async def _catch_up(self) -> None:
        while True:
            events = await database_sync_to_async(run_events)(run_id=self.run_id, after=self.sent)
            for event in events:
                await self._send_event(event)
            if not events:
                return

    async def _send_event(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "event", **event})
        self.sent = event["seq"]


class WorkspaceConsumer(_Beating):
    """Run status changes and approvals in the user's workspaces (`?workspace=<id>` for one)."""

    async def connect(self) -> None:
        self.groups_joined: list[str] = []
        await self.accept()
        user = self.scope.get("user")
        ids = await database_sync_to_async(workspace_ids_for)(user)
        wanted = _query(self.scope).get("workspace")
        if wanted:
            chosen = int(wanted[0]) if wanted[0].isdigit() else -1
            ids = [chosen] if chosen in ids else []
        if not ids:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.workspace_ids = ids
        for workspace_id in ids:
            group = workspace_group(workspace_id)
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.send_json({"type": "ready", "workspaces": ids})
        self.start_beating()

    async def disconnect(self, code: int) -> None:
        await self.stop_beating()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def workspace_events(self, message: dict[str, Any]) -> None:
        for event in message["events"]:
            await self.workspace_event({"event": event})

    async def workspace_event(self, message: dict[str, Any]) -> None:
        event = dict(message["event"])
        if event["kind"] == "approval.requested":
            event["for_you"] = await database_sync_to_async(_assigned)(
                self.scope.get("user"), (event.get("data") or {}).get("approval_id")
            )
        await self.send_json({"type": "event", **event})

    async def beat(self) -> None:
        ids = await database_sync_to_async(workspace_ids_for)(self.scope.get("user"))
        if not set(self.workspace_ids) <= set(ids):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.send_json({"type": "heartbeat"})


def _assigned(user, approval_id: int | None) -> bool:
    from runs.services.approvals import approvals_for

    if approval_id is None or user is None:
        return False
    return approvals_for(user).filter(pk=approval_id).exists()


def _after(scope: dict[str, Any]) -> int:
    values = _query(scope).get("after")
    if not values:
        return 0
    try:
        return min(max(0, int(values[0])), MAX_DB_ID)
    except ValueError:
        return 0

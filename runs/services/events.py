"""The run's append-only event log, and its broadcast once committed.

The log is the truth; the channel layer is a best-effort, at-most-once notification. Events are
written in the same transaction as the state change they describe, with the run row locked so
`seq` increases by exactly one per event (see `lifecycle.RunChange`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.utils import timezone

logger = logging.getLogger(__name__)

# Events that also go to the workspace stream (runs list, approvals inbox).
WORKSPACE_KINDS = frozenset(
    {
        "run.queued",
        "run.started",
        "run.waiting",
        "run.succeeded",
        "run.failed",
        "run.cancelled",
        "run.dead_letter",
        "approval.requested",
        "approval.decided",
    }
)


def run_group(run_id: int) -> str:
    return f"run_{run_id}"


def workspace_group(workspace_id: int) -> str:
    return f"workspace_{workspace_id}"


class _Sender:
    """Delivers broadcasts in order on one event loop, without blocking the caller.

    The in-memory channel layer's queues belong to the server's event loop, so once a websocket
    consumer registers that loop, delivery happens there; otherwise (Redis layer, or nobody
    listening yet) a private loop thread does it.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue | None = None

    def register_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on the server's loop from now on (call from a consumer's connect)."""
        with self.lock:
            if self.loop is loop:
                return
            self.loop = loop
            self.queue = None
            loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self.queue = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(self._drain(self.queue))
        # The drain loop lives as long as the process; do not warn about it at exit.
        task._log_destroy_pending = False  # type: ignore[attr-defined]

    def _private_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name="switchboard-broadcast", daemon=True
        )
        thread.start()
        self.loop = loop
        loop.call_soon_threadsafe(self._start_drain)
        return loop

    def send(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        if not _anyone_listening(messages):
            return
        with self.lock:
            loop = self.loop if self.loop is not None and not self.loop.is_closed() else None
            if loop is None:
                loop = self._private_loop()
        loop.call_soon_threadsafe(self._enqueue, messages)

    def _enqueue(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        if self.queue is None:
            self._start_drain()
        assert self.queue is not None
        self.queue.put_nowait(messages)

    async def _drain(self, queue: asyncio.Queue) -> None:
        while True:
            messages = await queue.get()
            while not queue.empty():  # what queued meanwhile goes out with it
                messages = messages + queue.get_nowait()
            layer = get_channel_layer()
            if layer is None:
                continue
            for group, message in coalesced(messages):
                try:
                    await layer.group_send(group, message)
                except Exception:
                    # Delivery is best effort: clients catch up from the log.
                    logger.warning("Could not broadcast to %s", group)


def coalesced(messages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """One message per group, in order: several events for a group go as one `<type>s` message
    with their list (`run.events`, `workspace.events`), which the consumers unpack in order.

    A step's commit sends its events together, and a streamed answer its deltas: one
    `group_send` for them all, where each costs the Redis layer round trips and a script even
    when nobody listens.
    """
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for group, message in messages:
        by_group.setdefault((group, message["type"]), []).append(message)
    out = []
    for (group, kind), batch in by_group.items():
        if len(batch) == 1:
            out.append((group, batch[0]))
        else:
            out.append((group, {"type": f"{kind}s", "events": [m["event"] for m in batch]}))
    return out


def _anyone_listening(messages: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether a message has a recipient. The in-memory layer's groups are this process's
    websockets: with none in the messages' groups, handing them to the loop (a thread wake-up
    per step) delivers nothing. Any other layer reaches other processes, so it always sends."""
    layer = get_channel_layer()
    if layer is None:
        return False
    if not isinstance(layer, InMemoryChannelLayer):
        return True
    groups = layer.groups  # read without the loop: a websocket joining now reads the log anyway
    return any(groups.get(group) for group, _ in messages)


_sender = _Sender()
register_loop = _sender.register_loop


def _messages(event: dict[str, Any], workspace_id: int | None) -> list[tuple[str, dict]]:
    messages = [(run_group(event["run_id"]), {"type": "run.event", "event": event})]
    if workspace_id is not None and event["kind"] in WORKSPACE_KINDS:
        messages.append(
            (workspace_group(workspace_id), {"type": "workspace.event", "event": event})
        )
    return messages


def broadcast(event: dict[str, Any], workspace_id: int | None = None) -> None:
    """Send an event to the run's websocket group (and the workspace's, for status kinds)."""
    _sender.send(_messages(event, workspace_id))


def broadcast_many(events: list[dict[str, Any]], workspace_id: int | None = None) -> None:
    """Send committed events in order, in one hand-over to the delivery loop."""
    _sender.send([m for event in events for m in _messages(event, workspace_id)])


# Called with every batch of committed events (after the websocket hand-over). Other apps
# register here in `AppConfig.ready` (notifications), so the runs app never imports them. A
# listener must be quick (hand real work to a thread) and never raise into the run.
Listener = Callable[[list[dict[str, Any]], int | None], None]
_listeners: list[Listener] = []


def on_committed(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def committed(events: list[dict[str, Any]], workspace_id: int | None = None) -> None:
    """The run's events are in the database: stream them, then tell the listeners."""
    broadcast_many(events, workspace_id)
    for listener in _listeners:
        try:
            listener(events, workspace_id)
        except Exception:
            logger.exception("An event listener failed; the run is not affected")


def broadcast_live(
    run_id: int, node_id: str, kind: str, data: dict[str, Any], last_seq: int
) -> None:
    """Stream a step's progress live (an agent's sub-step), unstored: the recorded step writes
    the same as events of its own."""
    broadcast(
        {
            "run_id": run_id,
            "seq": None,
            "after_seq": last_seq,
            "ts": timezone.now().isoformat(),
            "kind": kind,
            "node_id": node_id,
            "data": data,
        }
    )


# A step's token deltas go out at most this often (seconds). Each is a broadcast (with the Redis
# layer a group_send: round trips and a script, even when nobody watches), and a model streams
# 20–100 tokens a second: per token, 500 streaming steps were thousands of sends a second.
DELTA_INTERVAL = 0.05


class DeltaStream:
    """A step's streamed text, broadcast as it arrives, at most once per DELTA_INTERVAL: text
    that comes sooner waits for the next delta or `flush()` and goes with it as one delta (a
    client appends deltas, so the text it shows is the same). The first delta goes at once;
    what waits goes when the block it is used as ends (the step's execution)."""

    def __init__(self, run_id: int, node_id: str, last_seq: int) -> None:
        self.run_id, self.node_id, self.last_seq = run_id, node_id, last_seq
        self.pending: list[str] = []
        self.sent_at = float("-inf")

    def __enter__(self) -> DeltaStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def add(self, text: str) -> None:
        if not text:
            return
        self.pending.append(text)
        now = time.monotonic()
        if now - self.sent_at >= DELTA_INTERVAL:
            self._send(now)

    def flush(self) -> None:
        """Send what waits (before anything else the step broadcasts, and when it ends)."""
        if self.pending:
            self._send(time.monotonic())

    def _send(self, now: float) -> None:
        text, self.pending, self.sent_at = "".join(self.pending), [], now
        broadcast_delta(self.run_id, self.node_id, text, self.last_seq)


def broadcast_delta(run_id: int, node_id: str, text: str, last_seq: int) -> None:
    """Stream a token delta live. Deltas are not stored; the finished step has the full text."""
    broadcast(
        {
            "run_id": run_id,
            "seq": None,
            "after_seq": last_seq,
            "ts": timezone.now().isoformat(),
            "kind": "step.delta",
            "node_id": node_id,
            "data": {"text": text},
        }
    )

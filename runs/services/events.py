"""The run's append-only event log, and its broadcast once committed.

The log is the truth; the channel layer is a best-effort, at-most-once notification. Events are
written in the same transaction as the state change they describe, with the run row locked so
`seq` increases by exactly one per event.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from runs.models import Run, RunEvent

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


def event_append(run: Run, kind: str, node_id: str = "", data: dict[str, Any] | None = None):
    """Append an event to a run locked by the caller's transaction; broadcast it on commit."""
    run.last_seq += 1
    Run.objects.filter(pk=run.pk).update(last_seq=run.last_seq)
    event = RunEvent.objects.create(
        run=run, seq=run.last_seq, ts=timezone.now(), kind=kind, node_id=node_id, data=data or {}
    )
    payload = event.as_dict()
    workspace_id = run.workspace_id
    transaction.on_commit(lambda: broadcast(payload, workspace_id))
    return event


def broadcast(event: dict[str, Any], workspace_id: int | None = None) -> None:
    """Send an event to the run's websocket group (and the workspace's, for status kinds)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            run_group(event["run_id"]), {"type": "run.event", "event": event}
        )
        if workspace_id is not None and event["kind"] in WORKSPACE_KINDS:
            async_to_sync(layer.group_send)(
                workspace_group(workspace_id), {"type": "workspace.event", "event": event}
            )
    except Exception:
        # Delivery is best effort: clients catch up from the log.
        logger.warning("Could not broadcast event %s of run %s", event["seq"], event["run_id"])


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

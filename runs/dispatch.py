"""Kicks: hand the runs that services say must move on to the configured executor.

Services return what must be kicked and never import an executor; the edges (API, views,
commands, the admin) pass it here. A kick is sent once the current transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from runs.executor import executor


def kick(run_id: int | None, *, redispatch: bool = False) -> None:
    """Advance a run once the current transaction commits (now, outside one)."""
    if run_id is not None:
        transaction.on_commit(lambda: executor().advance(run_id, redispatch=redispatch))


def kick_all(run_ids: Iterable[int], *, redispatch: bool = False) -> None:
    for run_id in run_ids:
        kick(run_id, redispatch=redispatch)


def kick_freed_slot(sender: object, *, workspace_id: int, **kwargs: object) -> None:
    """A run of the workspace left its slot: start the queued runs that fit now."""
    from runs.services.capacity import runs_to_start

    kick_all(runs_to_start(workspace_id))

"""The one place a run changes status, and the unit of work every run write goes through.

A `RunChange` holds a run locked by the caller's transaction and collects what the transaction
does to it: field updates, a status transition, new events. `save()` writes them with one
INSERT of the events and one UPDATE of the run (`last_seq` included), and broadcasts the events
once the transaction commits. Every status change goes through `RunChange.transition`, which
refuses transitions the run's state machine does not allow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.utils import timezone

from runs.models import FINISHED_RUN_STATUSES, Run, RunEvent, RunStatus, Step, StepStatus

from . import statements
from .capacity import slot_freed
from .events import committed

_FINISHED = {str(s) for s in FINISHED_RUN_STATUSES}
ALLOWED = {
    RunStatus.QUEUED: {RunStatus.RUNNING} | _FINISHED,
    RunStatus.RUNNING: {RunStatus.WAITING} | _FINISHED,
    RunStatus.WAITING: {RunStatus.RUNNING} | _FINISHED,
}


class TransitionRefused(Exception):
    """A status change the run's state machine does not allow (a programming error)."""


class RunChange:
    """A locked run and the changes one transaction makes to it."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.events: list[RunEvent] = []
        self.fields: set[str] = set()
        # Whether this change leaves the workspace a slot for a queued run (capacity.py).
        self.frees_slot = False
        #: Other runs this change gives work to (a sub-flow's child, a parent it resumes): the
        #: caller hands them back to be kicked.
        self.kicks: list[int] = []

    @property
    def last_seq(self) -> int:
        return self.run.last_seq

    def set(self, **values: Any) -> None:
        """Change fields of the run (written by `save`)."""
        for name, value in values.items():
            setattr(self.run, name, value)
            self.fields.add(name)

    def event(self, kind: str, node_id: str = "", data: dict[str, Any] | None = None) -> RunEvent:
        """Append an event to the run's log (inserted by `save`, broadcast on commit)."""
        self.run.last_seq += 1
        self.fields.add("last_seq")
        event = statements.new(
            RunEvent,
            run_id=self.run.pk,
            seq=self.run.last_seq,
            ts=timezone.now(),
            kind=kind,
            node_id=node_id,
            data=data or {},
        )
        self.events.append(event)
        return event

    def transition(self, status: str, *, data: dict[str, Any] | None = None, **fields: Any) -> None:
        """Move the run to `status` and log the event that says so; finishing stamps
        `finished_at`."""
        current = self.run.status
        if status not in ALLOWED.get(current, set()):
            raise TransitionRefused(f"Run {self.run.pk}: {current} -> {status}")
        now = timezone.now()
        if current == RunStatus.QUEUED and status == RunStatus.RUNNING:
            fields.setdefault("started_at", now)
        if status in _FINISHED:
            fields.setdefault("finished_at", now)
        self.set(status=status, **fields)
        if current == RunStatus.RUNNING or status in _FINISHED:
            self.frees_slot = True
        # Running is announced as "run.started" (with `resumed` when it leaves waiting).
        kind = "run.started" if status == RunStatus.RUNNING else f"run.{status}"
        self.event(kind, data=data)
        if status in _FINISHED and self.run.parent_step_id is not None:
            from .subflows import subflow_finished

            parent = subflow_finished(self)
            if parent is not None:
                self.kicks.append(parent)

    def resume(self) -> None:
        """A waiting run has work again (a decision, a retried step)."""
        if self.run.status == RunStatus.WAITING:
            self.transition(RunStatus.RUNNING, data={"resumed": True})

    def finish(
        self,
        status: str,
        *,
        result: Any = None,
        code: str = "",
        message: str = "",
        active_steps: bool = True,
        data: dict[str, Any] | None = None,
    ) -> None:
        """End the run; its queued and running steps are cancelled (their results discarded)."""
        payload: dict[str, Any] = {"result": result} if status == RunStatus.SUCCEEDED else {}
        if code:
            payload.update(code=code, message=message)
        payload.update(data or {})
        run = self.run
        self.set(result=result, error_code=code, error_message=message)
        finished_at = timezone.now()
        if active_steps:
            Step.objects.filter(
                run_id=run.pk, status__in=[StepStatus.QUEUED, StepStatus.RUNNING]
            ).update(status=StepStatus.CANCELLED, finished_at=finished_at)
        payload.update(
            tokens_in=run.tokens_in,
            tokens_out=run.tokens_out,
            cost=float(run.cost),
            steps=run.step_count,
        )
        self.transition(status, data=payload, finished_at=finished_at)

    def save(self) -> None:
        """Write the collected events and run fields; broadcast the events on commit."""
        if self.events:
            statements.insert(self.events)
            payloads = [event.as_dict() for event in self.events]
            workspace_id = self.run.workspace_id
            transaction.on_commit(lambda: committed(payloads, workspace_id))
            self.events = []
        if self.fields:
            values = {name: getattr(self.run, name) for name in self.fields}
            statements.update(Run, self.run.pk, values)
            self.fields = set()
        if self.frees_slot:
            workspace_id = self.run.workspace_id
            transaction.on_commit(
                lambda: slot_freed.send(sender=Run, workspace_id=workspace_id), robust=True
            )
            self.frees_slot = False


def lock_run(run_id: int, *, reserve: int = 0) -> Run | None:
    """Lock a run row for this transaction (runs are always locked before their steps).

    The version's creation time comes along in the same statement: with the version id it keys
    the compiled-graph cache without another query. So do `reserve` ids for the steps the
    transaction will create, on PostgreSQL (`statements.run_locked`).
    """
    return statements.run_locked(run_id, reserve=reserve)


@contextmanager
def run_changing(run_id: int) -> Iterator[RunChange | None]:
    """Open a transaction holding the run's lock; save the changes when the block ends."""
    with transaction.atomic():
        run = lock_run(run_id)
        change = RunChange(run) if run is not None else None
        yield change
        if change is not None:
            change.save()


def event_now(run: Run, kind: str, node_id: str = "", data: dict[str, Any] | None = None):
    """Append one event to a run the caller has locked, written at once."""
    change = RunChange(run)
    event = change.event(kind, node_id, data)
    change.save()
    return event

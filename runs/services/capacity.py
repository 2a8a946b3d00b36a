"""The per-workspace cap on runs running at once: beyond it a run waits, queued, for a slot.

The cap is checked only when a run would start (its first advance) and when a slot frees (a
run of the workspace finishes or goes to wait for a person): never per step. Queued runs start
in the order they were created. Runs waiting for a person hold no slot, and a run that resumes
from waiting does not queue again (a decision is never held up): the cap can be exceeded by
those for a while.

    SWITCHBOARD_MAX_RUNNING_RUNS   the default cap (0: none); Workspace.max_running_runs
                                   overrides it per workspace (0 there: none either)
"""

from __future__ import annotations

from collections.abc import Collection

import django.dispatch
from django.conf import settings

from config.prepared import prepared_first
from runs.models import Run, RunStatus
from workspaces.models import Workspace

# Sent once a transaction that freed a slot of a workspace commits (`workspace_id`); the
# edges (runs.dispatch) kick the runs waiting for it.
slot_freed = django.dispatch.Signal()


def _cap(override: int | None) -> int | None:
    cap = override if override is not None else settings.SWITCHBOARD_MAX_RUNNING_RUNS
    return int(cap) or None


def _workspace(workspace_id: int) -> Workspace | None:
    return prepared_first(
        "workspace_cap",
        lambda pk: Workspace.objects.filter(pk=pk).only("max_running_runs"),
        workspace_id,
    )


def workspace_cap(workspace_id: int) -> int | None:
    """How many runs of the workspace may run at once; None for no cap."""
    workspace = _workspace(workspace_id)
    return _cap(workspace.max_running_runs if workspace is not None else None)


def run_may_start(run: Run) -> bool:
    """Whether a queued run (locked by the caller) may start now, under its workspace's cap.

    Under a cap it locks the workspace row, so two runs of one workspace never take the last
    slot together. With none it takes no lock: every start of the workspace would otherwise
    wait for the one before it to commit (500 runs started at once queued on that row). A cap
    set while runs start applies to the starts that read it; those that read none before may
    run beyond it once.
    """
    if workspace_cap(run.workspace_id) is None:
        return True
    overrides = list(
        Workspace.objects.select_for_update()
        .filter(pk=run.workspace_id)
        .values_list("max_running_runs", flat=True)
    )
    cap = _cap(overrides[0] if overrides else None)
    if cap is None:
        return True
    in_workspace = Run.objects.filter(workspace_id=run.workspace_id)
    free = cap - in_workspace.filter(status=RunStatus.RUNNING).count()
    if free <= 0:
        return False
    # First come, first served: older queued runs take the free slots first.
    return in_workspace.filter(status=RunStatus.QUEUED, pk__lt=run.pk).count() < free


def runs_to_start(workspace_id: int, *, kicked: Collection[int] = ()) -> list[int]:
    """The queued runs of a workspace that fit in its free slots, oldest first (to kick).

    `kicked`: runs kicked already that may not have started yet. Those still queued hold the
    slot their kick is about to take and are not returned again, so slots freed together (the
    children of a map finishing) kick each queued run once, not once per freed slot.
    """
    cap = workspace_cap(workspace_id)
    if cap is None:
        return []
    in_workspace = Run.objects.filter(workspace_id=workspace_id)
    free = cap - in_workspace.filter(status=RunStatus.RUNNING).count()
    if free <= 0:
        return []
    queued = in_workspace.filter(status=RunStatus.QUEUED).order_by("pk")
    return [pk for pk in queued.values_list("pk", flat=True)[:free] if pk not in kicked]


def runs_to_start_everywhere() -> set[int]:
    """For the sweeper: queued runs with a free slot, in every workspace that has some."""
    workspaces = (
        Run.objects.filter(status=RunStatus.QUEUED)
        .order_by()
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    found: set[int] = set()
    for workspace_id in workspaces:
        found.update(runs_to_start(workspace_id))
    return found

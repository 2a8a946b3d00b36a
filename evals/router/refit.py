"""The sweeper's job: refit a workspace's router once enough new labels arrived."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from django.conf import settings

from config.domain import Invalid
from evals.models import RouterModel

from .training import min_labels, new_labels_since, router_train

logger = logging.getLogger(__name__)

#: New labels that trigger a refit.
REFIT_EVERY = 50
#: The sweeper looks for workspaces to refit at most this often (seconds).
REFIT_CHECK_SECONDS = 600

_last_check = 0.0
_check_lock = threading.Lock()
_fitting = threading.Lock()
#: The name of the thread a background refit runs on.
REFIT_THREAD = "router-refit"


def refit_due_routers(now: datetime | None, *, background: bool = True) -> list[int]:
    """The sweeper's job: refit one workspace whose router is missing or behind its labels.

    Looks at most every REFIT_CHECK_SECONDS per process and starts no run. The fit itself (it
    may embed thousands of texts) runs on a thread of its own, one at a time, so a sweep that
    recovers runs never waits for it."""
    global _last_check
    with _check_lock:
        if time.monotonic() - _last_check < REFIT_CHECK_SECONDS:
            return []
        _last_check = time.monotonic()
    workspace_id = _due_workspace()
    if workspace_id is None or not _fitting.acquire(blocking=False):
        return []
    if not background:
        _fit_and_release(workspace_id)
        return []
    threading.Thread(
        target=_fit_and_release, args=(workspace_id,), name=REFIT_THREAD, daemon=True
    ).start()
    return []


def _due_workspace() -> int | None:
    from workspaces.models import Workspace

    trained = dict(RouterModel.objects.values_list("workspace_id", "trained_at"))
    every = int(getattr(settings, "SWITCHBOARD_ROUTER_REFIT_EVERY", REFIT_EVERY))
    for workspace_id in Workspace.objects.values_list("id", flat=True):
        since = trained.get(workspace_id)
        if new_labels_since(workspace_id, since) >= (every if since else min_labels()):
            return workspace_id
    return None


def _fit_and_release(workspace_id: int) -> None:
    from django.db import connection

    try:
        router_train(workspace_id=workspace_id)
    except Invalid:
        pass  # the judged steps were not all labels (no recorded call, no tier)
    except Exception:
        logger.exception("Refitting workspace %s's router failed", workspace_id)
    finally:
        _fitting.release()
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def refits_settle(timeout: float = 30.0) -> None:
    """Wait for a refit in flight, then count the next check from now.

    For tests: a sweep in one test (they sweep in-process) starts no refit of its own, and none
    outlives the test to hold the fitting lock in the next; a test of refitting resets
    `_last_check` itself."""
    global _last_check
    for thread in threading.enumerate():
        if thread.name == REFIT_THREAD:
            thread.join(timeout)
    with _check_lock:
        _last_check = time.monotonic()

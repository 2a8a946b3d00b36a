"""Driving evaluations: call `evaluation_advance` until every item is scored, kicking the runs
it starts through `runs.dispatch`.

With the inline executor the caller drives the evaluation to its end (terminal, tests): each
kicked run executes during the kick. Otherwise a daemon thread of this process drives it,
polling the database; it beats a heartbeat on the evaluation, so if this process dies, the next
visit of the evaluation's page (or `manage.py run_eval`) starts a driver again. Progress lives
in the database, so two drivers at once are harmless.
"""

from __future__ import annotations

import logging
import threading
import time

from runs.dispatch import kick_all
from runs.executor import InlineExecutor, executor, release_connections

from .models import Evaluation
from .services import evaluation_advance, evaluation_touch

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 5.0
_driving: set[int] = set()
_lock = threading.Lock()


def _finished(evaluation_id: int) -> bool:
    return (
        Evaluation.objects.filter(pk=evaluation_id).exclude(status="running").exists()
        or not Evaluation.objects.filter(pk=evaluation_id).exists()
    )


def drive_here(evaluation_id: int, *, timeout: float | None = None) -> bool:
    """Drive an evaluation in this thread until it ends; False if `timeout` passed first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    beat = 0.0
    while True:
        now = time.monotonic()
        if now >= beat:
            evaluation_touch(evaluation_id)
            beat = now + HEARTBEAT_SECONDS
        kicks = evaluation_advance(evaluation_id=evaluation_id)
        kick_all(kicks)
        if _finished(evaluation_id):
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        # Inline, a kicked run has finished: ask again at once. Nothing started means the
        # items wait on something else (a person, another driver's judge call): poll.
        if not kicks or not isinstance(executor(), InlineExecutor):
            time.sleep(POLL_SECONDS)


def _thread(evaluation_id: int) -> None:
    try:
        drive_here(evaluation_id)
    except Exception:
        logger.exception(
            "Driving evaluation %s failed; its page will start a driver again", evaluation_id
        )
    finally:
        with _lock:
            _driving.discard(evaluation_id)
        release_connections()


def drive(evaluation_id: int) -> None:
    """Drive an evaluation: to its end here with the inline executor, else on a thread."""
    if isinstance(executor(), InlineExecutor):
        drive_here(evaluation_id)
        return
    with _lock:
        if evaluation_id in _driving:
            return
        _driving.add(evaluation_id)
    threading.Thread(
        target=_thread, args=(evaluation_id,), name=f"evaluation-{evaluation_id}", daemon=True
    ).start()

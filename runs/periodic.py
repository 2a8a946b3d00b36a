"""Periodic jobs other apps give the sweeper (schedules, …): the sweeper calls them each pass.

A job takes the sweep's `now` and returns the ids of runs it created, which the sweeper kicks
with the rest. Apps register their jobs in `AppConfig.ready`, so the runs app never imports
them. A failing job is logged and never stops recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

logger = logging.getLogger(__name__)

Job = Callable[[datetime], Iterable[int]]
_jobs: dict[str, Job] = {}


def register(name: str, job: Job) -> None:
    _jobs[name] = job


def run_due(now: datetime) -> set[int]:
    kick: set[int] = set()
    for name, job in list(_jobs.items()):
        try:
            kick.update(job(now))
        except Exception:
            logger.exception("Periodic job %r failed; the next sweep retries it", name)
    return kick

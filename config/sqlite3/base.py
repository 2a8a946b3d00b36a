"""Django's SQLite backend, with the write lock taken in this process before SQLite's.

SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps and
polls (1, 2, 5, 10 … up to 100 ms between tries). With dozens of executor threads committing
steps at once, the sleeps, not the work, set the pace: a 1 → 50 → 1 fan-out took 0.5–1.8 s
for 0.5 s of CPU. Here a thread of this process waits for the others of this process on a
lock, and is woken the moment the writer before it commits. Other processes still meet at
SQLite's lock (with its busy timeout), and the wait here is bounded by the same timeout, after
which the transaction tries SQLite's lock as before.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.sqlite3 import base

_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _write_lock(name: str) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(name, threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: threading.Lock | None = None

    def _start_transaction_under_autocommit(self) -> None:
        lock = _write_lock(str(self.settings_dict["NAME"]))
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        if lock.acquire(timeout=timeout):
            self._held = lock
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        lock, self._held = self._held, None
        if lock is not None:
            lock.release()

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._release()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._release()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._release()

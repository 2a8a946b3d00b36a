"""SQLite writers of one process queue on a lock of the process (config.sqlite3): a transaction
holds it from BEGIN until it commits, rolls back or its connection closes, and nothing else."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from config.sqlite3.base import _write_lock
from workspaces.models import Workspace

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend only"),
]


def lock_is_free() -> bool:
    """Whether another thread of this process could begin a write transaction now."""
    answer: list[bool] = []

    def probe() -> None:
        lock = _write_lock(str(connection.settings_dict["NAME"]))
        taken = lock.acquire(blocking=False)
        if taken:
            lock.release()
        answer.append(taken)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return answer[0]


def test_a_write_transaction_holds_the_lock_until_it_commits():
    assert lock_is_free()
    with transaction.atomic():
        Workspace.objects.create(name="One", slug="one")
        assert not lock_is_free()
        with transaction.atomic():  # a savepoint: no second BEGIN, no second acquire
            Workspace.objects.create(name="Two", slug="two")
        assert not lock_is_free()
    assert lock_is_free()
    assert Workspace.objects.filter(slug__in=["one", "two"]).count() == 2


def test_a_rolled_back_transaction_releases_the_lock():
    with pytest.raises(RuntimeError), transaction.atomic():
        Workspace.objects.create(name="Gone", slug="gone")
        raise RuntimeError("boom")
    assert lock_is_free()
    assert not Workspace.objects.filter(slug="gone").exists()


def test_closing_a_connection_mid_transaction_releases_the_lock():
    done = threading.Event()

    def abandon() -> None:
        connection.ensure_connection()
        connection._start_transaction_under_autocommit()  # what atomic() does on SQLite
        assert not lock_is_free()
        connection.close()  # a job that failed mid-transaction closes its connection
        done.set()

    thread = threading.Thread(target=abandon)
    thread.start()
    thread.join()
    assert done.is_set()
    assert lock_is_free()


def test_writers_of_many_threads_all_commit():
    def write(index: int) -> None:
        try:
            with transaction.atomic():
                Workspace.objects.create(name=f"W{index}", slug=f"w-{index}")
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Workspace.objects.filter(slug__startswith="w-").count() == 16
    assert lock_is_free()

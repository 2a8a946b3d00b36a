"""`manage.py run_flow --json` prints every event of the run, the last ones included, even when
the run ends between the command reading the events and reading the run's status."""

import io
import json
import os
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from runs.models import FINISHED_RUN_STATUSES, Run, RunEvent
from tests.llmserver import text

from .support import fast_passwords, memory_layer, wait_until  # noqa: F401


class EndsBetweenReadAndRefresh:
    """A query hook on the command's connection: once the command has read the run's events, the
    model is let answer and the run reaches `statuses` before the command reads the run again.
    That is the command's unlucky timing, made certain."""

    def __init__(self, release: threading.Event, statuses):
        self.release = release
        self.statuses = list(statuses)
        self.events_read = False
        self.done = False
        self._inside = False

    def __call__(self, execute, sql, params, many, context):
        if self.done or self._inside or connection.in_atomic_block or not is_select(sql):
            return execute(sql, params, many, context)
        if '"runs_runevent"' in sql:
            self.events_read = True
        elif self.events_read and 'FROM "runs_run"' in sql:
            self.done = True
            self._inside = True
            try:
                self.release.set()
                wait_until(
                    lambda: Run.objects.filter(status__in=self.statuses).exists(), timeout=30
                )
            finally:
                self._inside = False
        return execute(sql, params, many, context)


def is_select(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT")


@pytest.fixture
def demo_admin(llm_server, memory_layer):  # noqa: F811
    quiet = open(os.devnull, "w")  # noqa: SIM115
    call_command("seed_demo", stdout=quiet)
    call_command("ensure_admin", stdout=quiet)
    yield llm_server
    quiet.close()


def gate(llm_server, opening: str) -> threading.Event:
    """Hold the model's answers to prompts starting with `opening` until the event is set."""
    release = threading.Event()

    def held(request):
        release.wait(30)
        return text("Held answer.")

    llm_server.on(opening, held)
    return release


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.django_db(transaction=True)
def test_run_flow_json_prints_the_terminal_event_when_the_run_ends_after_the_read(demo_admin):
    release = gate(demo_admin, "A trip to")
    hook = EndsBetweenReadAndRefresh(release, FINISHED_RUN_STATUSES)
    out = io.StringIO()
    try:
        with connection.execute_wrapper(hook):
            call_command("run_flow", "Trip budget", "--json", stdout=out)
    finally:
        release.set()

    assert hook.done  # the run did end between the command's two reads
    run = Run.objects.get()
    lines = json_lines(out.getvalue())
    stored = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "kind"))
    assert [(e["seq"], e["kind"]) for e in lines] == stored
    assert lines[-1]["kind"] == "run.succeeded" == f"run.{run.status}"


@pytest.mark.django_db(transaction=True)
def test_run_flow_json_prints_the_waiting_event_before_stopping_for_an_approval(demo_admin):
    release = gate(demo_admin, "List the ingredients")
    hook = EndsBetweenReadAndRefresh(release, ["waiting"])
    out = io.StringIO()
    try:
        with connection.execute_wrapper(hook), pytest.raises(CommandError, match="waiting"):
            call_command("run_flow", "Recipe assistant", "--json", stdout=out, stderr=io.StringIO())
    finally:
        release.set()

    assert hook.done
    run = Run.objects.get(parent_step__isnull=True)  # not the map's item runs
    lines = json_lines(out.getvalue())
    stored = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "kind"))
    assert [(e["seq"], e["kind"]) for e in lines] == stored
    assert lines[-1]["kind"] == "run.waiting"

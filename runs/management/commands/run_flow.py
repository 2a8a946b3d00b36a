"""Run a flow from the terminal with live progress, and print its result."""

from __future__ import annotations

import json
import sys
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from builder.models import Flow
from config.domain import DomainError
from config.errors import ApiError
from runs import dispatch
from runs.executor import EmbeddedExecutor, set_executor
from runs.models import Approval, ApprovalStatus, Run, RunEvent, Step
from runs.services import approval_decide, run_start

STATUS_STYLE = {
    "queued": "dim",
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "skipped": "dim",
    "waiting": "magenta",
    "cancelled": "dim",
    "needs_attention": "red",
}


def parse_inputs(pairs: list[str]) -> dict:
    inputs = {}
    for pair in pairs:
        if "=" not in pair:
            raise CommandError(f'--input expects key=value, got "{pair}"')
        key, value = pair.split("=", 1)
        try:
            inputs[key] = json.loads(value)
        except json.JSONDecodeError:
            inputs[key] = value
    return inputs


class Command(BaseCommand):
    help = "Run a flow (by id or exact name) and show its steps live."

    def add_arguments(self, parser):
        parser.add_argument("flow", help="Flow id or exact name")
        parser.add_argument(
            "--input",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A run input (JSON values allowed); defaults to the sample",
        )
        parser.add_argument(
            "--draft", action="store_true", help="Run the draft, not the published version"
        )
        parser.add_argument("--json", action="store_true", help="Print events as JSON lines")
        parser.add_argument(
            "--approve", action="store_true", help="Approve every approval step as it comes"
        )
        parser.add_argument("--user", help="Run as this user (default: the first admin)")
        parser.add_argument("--timeout", type=float, default=600, help="Give up after N seconds")

    def handle(self, *args, **options):
        user = self._user(options["user"])
        flow = self._flow(options["flow"], user)
        inputs = parse_inputs(options["input"]) or None
        executor = EmbeddedExecutor(threads=8)
        set_executor(executor)
        try:
            run = run_start(
                user=user, flow=flow, inputs=inputs, use_draft=options["draft"], trigger="cli"
            )
            dispatch.kick(run.pk)
        except (ApiError, DomainError) as exc:
            raise CommandError(f"{exc.detail} {exc.extra.get('errors', '')}") from exc
        try:
            run = self._follow(run, user, options)
        finally:
            executor.wait_idle(timeout=5)
            set_executor(None)
        if run.status != "succeeded":
            raise CommandError(f"Run {run.pk} {run.status}: {run.error_code} {run.error_message}")

    def _user(self, username: str | None):
        users = get_user_model().objects
        user = (
            users.filter(username=username).first()
            if username
            else (users.filter(is_superuser=True).order_by("pk").first())
        )
        if user is None:
            raise CommandError("No such user (create one with `manage.py ensure_admin`).")
        return user

    def _flow(self, ref: str, user) -> Flow:
        flows = Flow.objects.visible_to(user)
        flow = flows.filter(pk=int(ref)).first() if ref.isdigit() else None
        flow = flow or flows.filter(name=ref).first()
        if flow is None:
            names = ", ".join(f'"{f.name}"' for f in flows[:20]) or "none"
            raise CommandError(f'No flow "{ref}" visible to {user}. Flows: {names}')
        return flow

    def _follow(self, run: Run, user, options) -> Run:
        console = Console(stderr=options["json"])
        seen = 0
        deadline = time.monotonic() + options["timeout"]
        table_live = None if options["json"] else Live(console=console, auto_refresh=False)
        if table_live:
            table_live.start()
        try:
            while True:
                seen = self._print_events(run, seen, options)
                run.refresh_from_db()
                if table_live:
                    table_live.update(self._table(run), refresh=True)
                if run.is_finished:
                    break
                if run.status == "waiting" and not self._decide(run, user, options, table_live):
                    break
                if time.monotonic() > deadline:
                    raise CommandError(f"Run {run.pk} did not finish within {options['timeout']}s")
                time.sleep(0.1)
            # The run may have finished (or paused) after the events above were read; its last
            # events were committed with that status, so one more read has them all.
            self._print_events(run, seen, options)
        finally:
            if table_live:
                table_live.stop()
        if not options["json"]:
            console.print(
                f"\nRun {run.pk} [bold]{run.status}[/] · {run.tokens_in}+"
                f"{run.tokens_out} tokens · ${run.cost:.6f}"
            )
            if run.result is not None:
                console.print_json(json.dumps(run.result, default=str))
            elif run.error_message:
                console.print(f"[red]{run.error_code}: {run.error_message}[/]")
        return run

    def _print_events(self, run: Run, seen: int, options) -> int:
        """Print (with --json) the run's events after `seen`; return the last seq read."""
        for event in RunEvent.objects.filter(run=run, seq__gt=seen).order_by("seq"):
            seen = event.seq
            if options["json"]:
                line = {
                    "seq": event.seq,
                    "kind": event.kind,
                    "node_id": event.node_id or None,
                    "data": event.data,
                }
                self.stdout.write(json.dumps(line, default=str))
                self.stdout.flush()
        return seen

    def _decide(self, run: Run, user, options, live) -> bool:
        pending = Approval.objects.filter(run=run, status=ApprovalStatus.PENDING)
        for approval in pending:
            if options["approve"]:
                decision = "approved"
            elif sys.stdin.isatty():
                if live:
                    live.stop()
                print(f"\nApproval needed: {approval.title}\n{approval.instructions}")
                print(json.dumps(approval.payload, indent=2, default=str))
                answer = input("Approve? [y]es / [n]o: ").strip().lower()
                decision = "approved" if answer.startswith("y") else "rejected"
                if live:
                    live.start()
            else:
                self.stderr.write(
                    f"Run {run.pk} is waiting for approval {approval.pk}; decide "
                    "it in the inbox or rerun with --approve."
                )
                return False
            decided = approval_decide(
                user=user,
                approval_id=approval.pk,
                decision=decision,
                comment="Decided from the terminal",
            )
            dispatch.kick(decided.resume)
        return True

    def _table(self, run: Run) -> Table:
        table = Table(title=f"{run.flow.name} · run {run.pk} · {run.status}")
        for column in ("step", "status", "model", "tokens", "cost", "ms"):
            table.add_column(column)
        for step in Step.objects.filter(run=run).order_by("created_at", "id"):
            style = STATUS_STYLE.get(step.status, "")
            name = step.node_id + (f" #{step.iteration}" if step.iteration else "")
            table.add_row(
                name,
                f"[{style}]{step.status}[/]",
                step.model,
                str(step.tokens_in + step.tokens_out),
                f"{step.cost:.6f}",
                str(step.latency_ms or ""),
            )
        return table

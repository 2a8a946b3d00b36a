"""Evaluate a flow over a dataset from a terminal or CI; exit non-zero on a regression or a pass
rate below the threshold.

Exit codes: 0 passed the gate, 1 a regression or below --min-pass-rate, 2 bad arguments.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from builder.models import Flow
from config.domain import DomainError
from evals.compare import baseline_for, evaluations_compare
from evals.dispatch import drive_here
from evals.models import Dataset, Evaluation
from evals.services import evaluation_start, evaluation_summary


def _fail(message: str) -> CommandError:
    return CommandError(message, returncode=2)


class Command(BaseCommand):
    help = "Evaluate a flow (id or exact name) over a dataset (id or exact name)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # `--version N` picks the flow version, replacing Django's --version (its own version).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("flow", help="Flow id or exact name")
        parser.add_argument("dataset", help="Dataset id or exact name")
        parser.add_argument("--version", type=int, help="Version number (default: published)")
        parser.add_argument("--draft", action="store_true", help="Evaluate the current draft")
        parser.add_argument(
            "--min-pass-rate",
            type=float,
            help="Fail below this pass rate (0-1, or a percentage like 90)",
        )
        parser.add_argument(
            "--baseline",
            type=int,
            help="Evaluation id to compare with (default: the last one of this flow and dataset)",
        )
        parser.add_argument(
            "--allow-regressions", action="store_true", help="Do not fail on regressions"
        )
        parser.add_argument("--scorers", help='Scorers as JSON, e.g. [{"type": "contains"}]')
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--user", help="Run as this user (default: the first admin)")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, **options):
        user = self._user(options["user"])
        flow = self._named(Flow.objects.visible_to(user), options["flow"], "flow")
        dataset = self._named(
            Dataset.objects.filter(workspace__memberships__user=user), options["dataset"], "dataset"
        )
        threshold = options["min_pass_rate"]
        if threshold is not None:
            threshold = threshold / 100 if threshold > 1 else threshold
            if not 0 <= threshold <= 1:
                raise _fail("--min-pass-rate must be between 0 and 1 (or 0 and 100).")
        try:
            scorers = json.loads(options["scorers"]) if options["scorers"] else None
        except json.JSONDecodeError as exc:
            raise _fail(f"--scorers is not JSON: {exc.msg}") from None
        baseline = None
        if options["baseline"] is not None:
            baseline = Evaluation.objects.filter(
                pk=options["baseline"], flow=flow, dataset=dataset
            ).first()
            if baseline is None:
                raise _fail(f"No evaluation {options['baseline']} of this flow and dataset.")
        try:
            evaluation = evaluation_start(
                user=user,
                flow=flow,
                dataset=dataset,
                version=options["version"],
                use_draft=options["draft"],
                scorers=scorers,
                concurrency=options["concurrency"],
            )
        except DomainError as exc:
            problems = "; ".join(str(e) for e in exc.extra.get("errors") or [])
            raise _fail(f"{exc.detail} {problems}".strip()) from None
        if not drive_here(evaluation.pk, timeout=options["timeout"]):
            raise CommandError(f"Evaluation {evaluation.pk} did not finish in time.", returncode=1)
        return self._report(evaluation, baseline, threshold, options["allow_regressions"])

    def _report(self, evaluation, baseline, threshold, allow_regressions) -> None:
        summary = evaluation_summary(evaluation)
        rate = summary["pass_rate"] or 0.0
        self.stdout.write(
            f"Evaluation {evaluation.pk}: {summary['passed']}/{summary['total']} passed "
            f"({rate:.1%}), cost ${float(summary['cost']):.6f}, "
            f"mean latency {summary['latency'] or 0:.0f} ms"
        )
        failures = []
        baseline = baseline or baseline_for(evaluation)
        if baseline is not None:
            comparison = evaluations_compare(baseline, evaluation)
            counts = comparison.counts
            self.stdout.write(
                f"Against evaluation {baseline.pk}: {counts['regression']} regression(s), "
                f"{counts['fixed']} fixed"
            )
            for diff in comparison.regressions[:20]:
                self.stdout.write(
                    f"  regression: item {diff.position} {json.dumps(diff.inputs)[:120]}"
                )
            if counts["regression"] and not allow_regressions:
                failures.append(f"{counts['regression']} item(s) regressed")
        if threshold is not None and rate < threshold:
            failures.append(f"pass rate {rate:.1%} is below {threshold:.1%}")
        if failures:
            raise CommandError("; ".join(failures), returncode=1)
        self.stdout.write(self.style.SUCCESS("OK"))

    def _user(self, username: str | None):
        users = get_user_model().objects
        user = (
            users.filter(username=username).first()
            if username
            else users.filter(is_superuser=True).order_by("pk").first()
        )
        if user is None:
            raise _fail("No such user (pass --user, or create an admin).")
        return user

    def _named(self, objects, ref: str, what: str):
        found = objects.filter(pk=int(ref)).first() if ref.isdigit() else None
        found = found or objects.filter(name=ref).first()
        if found is None:
            raise _fail(f'No {what} "{ref}" visible to this user.')
        return found

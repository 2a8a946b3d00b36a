"""Fit a workspace's learned model router on its labelled answers and print how it did.

    manage.py train_router WORKSPACE        # id or slug
    manage.py train_router --all            # every workspace with enough labels

Exit codes: 0 trained (or --all finished), 1 too few labels, 2 bad arguments.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from config.domain import Invalid
from evals.router import router_train
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Fit the learned model router of a workspace (id or slug), or of --all."

    def add_arguments(self, parser):
        parser.add_argument("workspace", nargs="?", help="Workspace id or slug")
        parser.add_argument("--all", action="store_true", help="Every workspace")

    def handle(self, *args, **options):
        if options["all"] == bool(options["workspace"]):
            raise CommandError("Name one workspace (id or slug), or pass --all.", returncode=2)
        if options["all"]:
            for workspace in Workspace.objects.order_by("id"):
                self._train(workspace, quiet_when_few=True)
            return
        key = options["workspace"]
        found = Workspace.objects.filter(slug=key).first()
        if found is None and key.isdigit() and len(key) < 12:
            found = Workspace.objects.filter(pk=int(key)).first()
        if found is None:
            raise CommandError(f"No workspace {key!r}.", returncode=2)
        if not self._train(found, quiet_when_few=False):
            raise CommandError("Not trained.", returncode=1)

    def _train(self, workspace: Workspace, *, quiet_when_few: bool) -> bool:
        try:
            router = router_train(workspace_id=workspace.pk)
        except Invalid as exc:
            if not quiet_when_few:
                self.stderr.write(f"{workspace.slug}: {exc.detail}")
            return False
        m = router.metrics
        state = "active" if router.active else "inactive (the baseline routes)"
        by_rules = m.get("baseline_tiers") or []
        if router.active and by_rules:
            state += f" (the baseline decides {', '.join(by_rules)})"
        self.stdout.write(
            f"{workspace.slug}: {router.label_count} labels, held-out accuracy "
            f"{m['accuracy']:.1%} vs baseline {m['baseline_accuracy']:.1%} on {m['held_out']} "
            f"labels ({m.get('folds', 1)}-fold cross-validation); embeddings: "
            f"{router.embedding_model or 'none'}; {state}"
        )
        return True

"""Create the first admin account with a generated password, printed once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from workspaces.models import Membership, Role, Workspace


class Command(BaseCommand):
    help = "Create an admin account if none exists, and make it owner of the demo workspace."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        users = get_user_model().objects
        admin = users.filter(is_superuser=True).order_by("pk").first()
        if admin is None:
            password = secrets.token_urlsafe(12)
            admin = users.create_superuser(username=username, password=password, email="")
            self.stdout.write(
                self.style.SUCCESS(
                    "\n  Admin account created. This password is shown only once:\n"
                    f"    username: {username}\n    password: {password}\n"
                    "  (Change it any time with: .venv/bin/python manage.py changepassword "
                    f"{username})\n"
                )
            )
        else:
            self.stdout.write(
                f"Log in as {admin.get_username()} (password shown at first start; reset it "
                f"with: .venv/bin/python manage.py changepassword {admin.get_username()})."
            )
        for workspace in Workspace.objects.filter(slug="demo"):
            Membership.objects.get_or_create(
                workspace=workspace, user=admin, defaults={"role": Role.OWNER}
            )

"""Re-encrypt every credential with the first key of SWITCHBOARD_ENCRYPTION_KEY."""

from django.core.management.base import BaseCommand, CommandError

from vault.crypto import EncryptionKeyError
from vault.services import credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the first key listed in "
        "SWITCHBOARD_ENCRYPTION_KEY. Put the new key first, keep the old ones after it, run this, "
        "then remove the old keys."
    )

    def handle(self, *args, **options) -> None:
        try:
            count = credentials_rotate()
        except EncryptionKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Re-encrypted {count} credential(s) with the first key.")

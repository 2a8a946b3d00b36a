from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Credentials and model providers"

    def ready(self) -> None:
        from . import logging

        logging.install()

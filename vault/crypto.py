"""Encrypting credential values with Fernet keys from the environment or the data dir.

`SWITCHBOARD_ENCRYPTION_KEY` is a comma-separated list of Fernet keys: the first encrypts, every
one decrypts, so a key is rotated by putting a new one first and running
`manage.py rotate_credentials` (docs/api-and-scale.md, "Credentials and encryption"). Without the
variable, a key generated once into the data dir (mode 0600) is used: the embedded default needs
no setup, and a copied database without its data dir cannot be read.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

KEY_VARIABLE = "SWITCHBOARD_ENCRYPTION_KEY"
KEY_FILE = "encryption_key"

_lock = threading.Lock()
_cached: tuple[tuple[str, ...], MultiFernet] | None = None


class EncryptionKeyError(Exception):
    """The configured keys are unusable, or a value was encrypted with a key no longer listed."""


def _file_key() -> str:
    """Return the data dir's key, generating it (readable by this user only) the first time."""
    path = Path(settings.DATA_DIR) / KEY_FILE
    if not path.exists():
        key = Fernet.generate_key()
        # O_EXCL: of two processes starting at once, one writes and the other reads its key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(key)
    return path.read_text().strip()


def configured_keys() -> tuple[str, ...]:
    """Return the keys in order: the environment's list, else the data dir's generated key."""
    listed = tuple(k.strip() for k in os.environ.get(KEY_VARIABLE, "").split(",") if k.strip())
    return listed or (_file_key(),)


def fernet() -> MultiFernet:
    """Return the MultiFernet for the current keys (rebuilt when the environment changes)."""
    global _cached
    keys = configured_keys()
    with _lock:
        if _cached is None or _cached[0] != keys:
            try:
                _cached = (keys, MultiFernet([Fernet(k.encode()) for k in keys]))
            except ValueError as exc:
                raise EncryptionKeyError(
                    f"{KEY_VARIABLE} must list Fernet keys (32 url-safe base64-encoded bytes), "
                    "separated by commas."
                ) from exc
        return _cached[1]


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise EncryptionKeyError(
            "A credential could not be decrypted: it was encrypted with a key that is no "
            f"longer in {KEY_VARIABLE}."
        ) from exc


def reencrypt(token: str) -> str:
    """Return `token` encrypted with the first key (MultiFernet.rotate)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise EncryptionKeyError(
            "A credential was encrypted with a key that is no longer listed."
        ) from exc
